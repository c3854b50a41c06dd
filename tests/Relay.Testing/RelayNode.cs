using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>
/// A real Gateway process on 127.0.0.1: its own HTTP port, Akka port and journal. Start it, stop it with
/// SIGTERM or SIGKILL, and start it again on the same journal.
/// </summary>
public sealed class RelayNode : IAsyncDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly ConcurrentQueue<string> _output = new();
    private readonly Dictionary<string, string> _settings;
    private Process? _process;

    /// <summary>Describes a node; nothing runs until <see cref="StartAsync"/>.</summary>
    /// <param name="name">A name for logs.</param>
    /// <param name="settings">Configuration keys (<c>Relay:Akka:Port</c>, ...) passed as command-line arguments.</param>
    /// <param name="httpPort">Kestrel's port; a free one when null.</param>
    /// <param name="akkaPort">Akka.Remote's port; a free one when null. Known up front so that nodes can list each other as seeds.</param>
    public RelayNode(string name, IDictionary<string, string>? settings = null, int? httpPort = null, int? akkaPort = null)
    {
        Name = name;
        HttpPort = httpPort ?? FreePort.Next();
        AkkaPort = akkaPort
            ?? (settings is not null && settings.TryGetValue("Relay:Akka:Port", out var given) ? int.Parse(given) : FreePort.Next());
        _settings = new Dictionary<string, string>(settings ?? new Dictionary<string, string>())
        {
            ["urls"] = $"http://127.0.0.1:{HttpPort}",
        };
        _settings.TryAdd("Relay:Akka:Hostname", "127.0.0.1");
        _settings["Relay:Akka:Port"] = AkkaPort.ToString();
        if (!_settings.ContainsKey("Relay:Journal:ConnectionString"))
        {
            _settings["Relay:Journal:ConnectionString"] = $"Data Source={Path.Combine(RepoPaths.NewTempFolder(name), "relay.db")}";
        }

        _settings.TryAdd("Logging:LogLevel:Default", "Information");
        _settings.TryAdd("Logging:LogLevel:Microsoft.AspNetCore", "Warning");
    }

    /// <summary>A single node on its own SQLite file.</summary>
    public static RelayNode Sqlite(string name, string? databaseFile = null, IDictionary<string, string>? extra = null)
    {
        var settings = new Dictionary<string, string>(extra ?? new Dictionary<string, string>());
        if (databaseFile is not null)
        {
            settings["Relay:Journal:ConnectionString"] = $"Data Source={databaseFile}";
        }

        return new RelayNode(name, settings);
    }

    /// <summary>
    /// A cluster node journaling to PostgreSQL at <paramref name="connectionString"/>; it joins through
    /// <paramref name="seedNodes"/> (<c>akka.tcp://relay@127.0.0.1:PORT</c>, the same list on every node).
    /// </summary>
    public static RelayNode Postgres(
        string name,
        string connectionString,
        IReadOnlyList<string> seedNodes,
        int? akkaPort = null,
        IDictionary<string, string>? extra = null)
    {
        var settings = new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            ["Relay:Journal:Provider"] = "postgresql",
            ["Relay:Journal:ConnectionString"] = connectionString,
        };
        for (var i = 0; i < seedNodes.Count; i++)
        {
            settings[$"Relay:Akka:SeedNodes:{i}"] = seedNodes[i];
        }

        return new RelayNode(name, settings, akkaPort: akkaPort);
    }

    /// <summary>The node's name in logs.</summary>
    public string Name { get; }

    /// <summary>Kestrel's port.</summary>
    public int HttpPort { get; }

    /// <summary>Akka.Remote's port.</summary>
    public int AkkaPort { get; }

    /// <summary>The port of the node's Cluster Bootstrap listener, when it has one.</summary>
    public int? ManagementPort =>
        _settings.TryGetValue("Relay:Akka:Bootstrap:ManagementPort", out var port) ? int.Parse(port) : null;

    /// <summary>
    /// The node's answer to a Cluster Bootstrap probe (<c>GET /bootstrap/seed-nodes</c> on its management port): the members
    /// it would name as seeds, with their status and incarnation (<c>NodeUid</c>).
    /// </summary>
    public Task<JsonElement> SeedNodesAsync() =>
        Http.GetFromJsonAsync<JsonElement>(new Uri($"http://127.0.0.1:{ManagementPort ?? throw new InvalidOperationException($"{Name} has no management port")}/bootstrap/seed-nodes"));

    /// <summary>The process's exit code once it has exited; null while it runs or before it started.</summary>
    public int? ExitCode => _process is { HasExited: true } process ? process.ExitCode : null;

    /// <summary>The node's cluster address.</summary>
    public string AkkaAddress => $"akka.tcp://relay@127.0.0.1:{AkkaPort}";

    /// <summary>The HTTP base address.</summary>
    public Uri HttpUrl => new($"http://127.0.0.1:{HttpPort}/");

    /// <summary>The WebSocket address clients of the default document connect to.</summary>
    public Uri WebSocketUrl => new($"ws://127.0.0.1:{HttpPort}/");

    /// <summary>The WebSocket address of <paramref name="document"/> (<c>""</c> is the default document).</summary>
    public Uri WebSocketUrlOf(string document) => new($"ws://127.0.0.1:{HttpPort}/{document}");

    /// <summary>The HTTP address of <paramref name="document"/>: its status (the node's status for <c>""</c>).</summary>
    public Uri HttpUrlOf(string document) => new($"http://127.0.0.1:{HttpPort}/{document}");

    /// <summary>The configuration the node runs with.</summary>
    public IReadOnlyDictionary<string, string> Settings => _settings;

    /// <summary>
    /// A cgroup's <c>cgroup.procs</c> the process enters before the Gateway starts, so that every socket it opens
    /// belongs to that cgroup (see <see cref="NetworkPartition"/>); null: it stays where the test runs.
    /// </summary>
    public string? CgroupProcsFile { get; set; }

    /// <summary>The process id, while it runs.</summary>
    public int? ProcessId => _process is { HasExited: false } ? _process.Id : null;

    /// <summary>Whether the process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What the process printed so far, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts the process and, unless <paramref name="waitUntilReady"/> is false, waits until it serves WebSocket upgrades.</summary>
    public async Task StartAsync(TimeSpan? readyTimeout = null, bool waitUntilReady = true)
    {
        Launch();
        if (waitUntilReady)
        {
            try
            {
                await WaitReadyAsync(readyTimeout ?? TimeSpan.FromSeconds(60));
            }
            catch
            {
                // A fixture whose start fails is never disposed by xunit: do not leave the process behind.
                await KillAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// Whether the node runs with the JIT settings the Gateway ships with (tiered compilation off), as the bench
    /// needs; false (the default): tiered, which starts faster.
    /// </summary>
    public bool ShippedJit { get; set; }

    /// <summary>
    /// The runtime settings a test node starts with unless <see cref="ShippedJit"/>: behaviour is the same, the CPU
    /// is not. The Gateway ships with tiered compilation off (every method compiled fully optimized once, for
    /// steady throughput), which costs a node about twice the CPU to start; test nodes start by the hundred and
    /// live for seconds. They start tiered, without the profiling tier and with a method optimized after 1,000
    /// calls instead of 30 (fewer re-compilations in a short life), and idle thread-pool workers sleep at once
    /// instead of spinning first. Measured on a three-node cluster over its first 40 s (start, idle, 200 patches/s):
    /// 28 s of CPU for the three nodes, against 44 s tiered with .NET's defaults and 49 s as shipped.
    /// The settings are in <c>tests/Relay.Testing/test-node.env</c>, which clients/js/test/gateway.mjs reads too.
    /// </summary>
    public static IReadOnlyDictionary<string, string> TestRuntimeEnvironment { get; } =
        File.ReadLines(Path.Combine(RepoPaths.Root, "tests", "Relay.Testing", "test-node.env"))
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair[1]);

    /// <summary>Starts the process without waiting for it to be ready (to watch it start).</summary>
    public void Launch()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} already runs");
        }

        // In a cgroup: a shell enters it and then becomes dotnet (exec keeps the process id), so not even the
        // runtime's first socket is opened outside it.
        var info = new ProcessStartInfo(CgroupProcsFile is null ? "dotnet" : "/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(RepoPaths.GatewayDll)!,
        };
        if (CgroupProcsFile is not null)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("echo $$ > \"$0\" && exec dotnet \"$@\"");
            info.ArgumentList.Add(CgroupProcsFile);
        }

        info.ArgumentList.Add(RepoPaths.GatewayDll);
        foreach (var (key, value) in _settings)
        {
            info.ArgumentList.Add($"--{key}={value}");
        }

        info.Environment["DOTNET_gcServer"] = "0";
        if (!ShippedJit)
        {
            foreach (var (key, value) in TestRuntimeEnvironment)
            {
                info.Environment[key] = value;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data);
        process.Start();

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    /// <summary>Waits until the node's status at <c>/</c> says ready.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process is null || _process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process?.ExitCode} before it was ready:\n{Output}");
            }

            try
            {
                var status = await Http.GetFromJsonAsync<JsonElement>(HttpUrl);
                if (status.GetProperty("status").GetString() == "ready")
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} was not ready within {timeout}:\n{Output}");
    }

    /// <summary>The JSON of <c>GET /{document}</c>: the node's status for the default document, else the document's.</summary>
    public Task<JsonElement> StatusAsync(string document = "") => Http.GetFromJsonAsync<JsonElement>(HttpUrlOf(document));

    /// <summary>The documents whose sequencer runs on this node, as its status lists them (<c>""</c> is the default document).</summary>
    public async Task<IReadOnlyList<string>> SequencersAsync()
    {
        var status = await StatusAsync();
        return status.GetProperty("sequencers").EnumerateArray().Select(name => name.GetString()!).ToList();
    }

    /// <summary>Sends SIGKILL: the process dies at once, as in a crash.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Sends SIGTERM and waits for the exit; returns the exit code and how long the exit took.</summary>
    public async Task<(int ExitCode, TimeSpan Took)> TerminateAsync(TimeSpan? timeout = null)
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} never started");
        var took = Stopwatch.StartNew();
        if (!process.HasExited)
        {
            Signal(process.Id, "TERM");
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                throw new TimeoutException($"{Name} did not exit within {timeout} of SIGTERM:\n{Output}");
            }
        }

        return (process.ExitCode, took.Elapsed);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        KeepLog();
        // Idempotent: a cluster whose start failed disposes its nodes, and its owner disposes them again.
        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// Where the node's output is kept once it is disposed (its last 2,000 lines), so that a failed test can be read
    /// afterwards: <c>relay-tests/node-logs/</c> under the system temp folder, one file per node and port.
    /// </summary>
    public string LogFile => Path.Combine(Path.GetTempPath(), "relay-tests", "node-logs", $"{Name}-{HttpPort}.log");

    private void KeepLog()
    {
        if (_output.IsEmpty)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(LogFile)!);
        File.WriteAllText(LogFile, Output + "\n");
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue($"[{Name}] {line}");
        while (_output.Count > 2000 && _output.TryDequeue(out _))
        {
        }
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }
}
