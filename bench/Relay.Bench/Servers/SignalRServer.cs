using System.Diagnostics;
using Relay.Testing;

namespace Relay.Bench.Servers;

/// <summary>The SignalR relay (<c>bench/SignalRRelay</c>, one hub, in memory) as a real process on a free loopback port.</summary>
public sealed class SignalRServer : IServerUnderTest
{
    private readonly ServerProcess _process;

    private SignalRServer(ServerProcess process, int port)
    {
        _process = process;
        Url = new Uri($"http://127.0.0.1:{port}/relay");
        Connector = new SignalRConnector(Url);
    }

    /// <inheritdoc />
    public string Name => "signalr";

    /// <inheritdoc />
    public Uri Url { get; }

    /// <inheritdoc />
    public IClientConnector Connector { get; }

    /// <inheritdoc />
    public int ProcessId => _process.Id;

    /// <inheritdoc />
    public string Output => _process.Output;

    /// <inheritdoc />
    public bool IsRunning => _process.IsRunning;

    /// <summary>The built relay, next to the bench's own build (same configuration).</summary>
    public static string Dll
    {
        get
        {
            var configuration = typeof(SignalRServer).Assembly.Location.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            var path = Path.Combine(RepoPaths.Root, "bench", "SignalRRelay", "bin", configuration, "net10.0", "SignalRRelay.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build bench/SignalRRelay first", path);
        }
    }

    /// <summary>Starts the relay and waits until it accepts connections.</summary>
    public static async Task<SignalRServer> StartAsync()
    {
        var port = FreePort.Next();
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = Path.GetDirectoryName(Dll)! };
        info.ArgumentList.Add(Dll);
        info.ArgumentList.Add($"--Port={port}");
        info.Environment["DOTNET_gcServer"] = "0";
        return new SignalRServer(await ServerProcess.StartAsync(info, port, TimeSpan.FromSeconds(30)), port);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
