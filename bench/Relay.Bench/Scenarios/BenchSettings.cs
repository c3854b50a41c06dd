namespace Relay.Bench.Scenarios;

/// <summary>The shape and bounds of every scenario; defaults are those of issue 5.</summary>
public sealed record BenchSettings
{
    /// <summary>Receivers in fan-out and latency.</summary>
    public int Receivers { get; init; } = 50;

    /// <summary>Senders in fan-out and latency.</summary>
    public int Senders { get; init; } = 2;

    /// <summary>Bytes per patch.</summary>
    public int PatchBytes { get; init; } = 128;

    /// <summary>Patches a sender may have that not every receiver has yet, in fan-out.</summary>
    public int FanoutInFlight { get; init; } = 200;

    /// <summary>The same, in the latency scenario (light load).</summary>
    public int LatencyInFlight { get; init; } = 5;

    /// <summary>Load before the measuring window opens.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>The measuring window.</summary>
    public TimeSpan Measure { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle connections in the connections scenario.</summary>
    public int Connections { get; init; } = 5000;

    /// <summary>Patches in the replay scenario's history.</summary>
    public int History { get; init; } = 100_000;

    /// <summary>Patches the replay filler may have that the watcher has not received yet.</summary>
    public int ReplayInFlight { get; init; } = 1000;

    /// <summary>Clients that join while patches flow, in the join check.</summary>
    public int Joiners { get; init; } = 10;

    /// <summary>Time between two joiners.</summary>
    public TimeSpan JoinInterval { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>No progress for this long fails a scenario as stalled.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest any one phase (connecting, filling, replaying) may take.</summary>
    public TimeSpan PhaseTimeout { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>How long the connections scenario lets the server settle before each memory reading.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Sockets opened at once while connecting many.</summary>
    public int ConnectConcurrency { get; init; } = 64;

    /// <summary>Patches in the state-join scenarios' document (issue 10: 1,000,000 of about 128 bytes).</summary>
    public int StatePatches { get; init; } = 1_000_000;

    /// <summary>Keys those patches touch.</summary>
    public int StateKeys { get; init; } = 10_000;

    /// <summary>
    /// Whether Relay runs with the JIT settings it ships with (tiered compilation off), as every figure is taken;
    /// false: tiered, which starts on about half the CPU (the smoke run, whose times nobody reads).
    /// </summary>
    public bool ShippedJit { get; init; } = true;

    /// <summary>Tiny figures for CI: seconds in all.</summary>
    public static BenchSettings Smoke { get; } = new()
    {
        Receivers = 5,
        FanoutInFlight = 20,
        LatencyInFlight = 2,
        Warmup = TimeSpan.FromMilliseconds(300),
        Measure = TimeSpan.FromMilliseconds(500),
        Connections = 50,
        Settle = TimeSpan.FromMilliseconds(500),
        History = 500,
        ReplayInFlight = 100,
        StatePatches = 3000,
        StateKeys = 100,
        Joiners = 3,
        JoinInterval = TimeSpan.FromMilliseconds(150),
        StallTimeout = TimeSpan.FromSeconds(10),
        PhaseTimeout = TimeSpan.FromSeconds(30),
        ShippedJit = false,
    };
}
