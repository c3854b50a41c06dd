using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Relay.Testing;

namespace Relay.Bench.Servers;

/// <summary>
/// The original Node.js relay (<c>reference/seed-relay.mjs</c>, in memory only) run with <c>node</c> from a
/// folder where <c>ws@8</c> is installed once per machine.
/// </summary>
public sealed class ReferenceServer : IServerUnderTest
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ReferenceServer(Process process, int port)
    {
        _process = process;
        Url = new Uri($"ws://127.0.0.1:{port}/");
    }

    /// <inheritdoc />
    public string Name => "reference";

    /// <inheritdoc />
    public Uri Url { get; }

    /// <inheritdoc />
    public int ProcessId => _process.Id;

    /// <inheritdoc />
    public string Output => string.Join('\n', _output);

    /// <inheritdoc />
    public bool IsRunning => !_process.HasExited;

    /// <summary>Starts the reference relay on a free loopback port and waits until it accepts connections.</summary>
    public static async Task<ReferenceServer> StartAsync()
    {
        var folder = await PrepareAsync();
        var port = FreePort.Next();
        var info = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("seed-relay.mjs");
        info.Environment["PORT"] = port.ToString();
        var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var server = new ReferenceServer(process, port);
        process.OutputDataReceived += (_, e) => server.Record(e.Data);
        process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the reference relay exited with {process.ExitCode}:\n{server.Output}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>
    /// A folder with the reference relay and <c>ws@8</c> installed, made once. The copy listens on 127.0.0.1
    /// only (the original listens on every interface); nothing else differs.
    /// </summary>
    private static async Task<string> PrepareAsync()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "reference", "seed-relay.mjs");
        var folder = Path.Combine(Path.GetTempPath(), "relay-bench", "reference");
        Directory.CreateDirectory(folder);
        var script = await File.ReadAllTextAsync(source);
        const string Original = "new WebSocketServer({ port })";
        if (!script.Contains(Original, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{source} no longer creates its server with `{Original}`; update {nameof(ReferenceServer)}");
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "seed-relay.mjs"), script.Replace(Original, "new WebSocketServer({ port, host: \"127.0.0.1\" })", StringComparison.Ordinal));
        if (!File.Exists(Path.Combine(folder, "node_modules", "ws", "package.json")))
        {
            var npm = new ProcessStartInfo("npm") { WorkingDirectory = folder, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "install", "--no-audit", "--no-fund", "--silent", "ws@8" })
            {
                npm.ArgumentList.Add(arg);
            }

            using var install = Process.Start(npm) ?? throw new InvalidOperationException("npm did not start");
            var stdout = install.StandardOutput.ReadToEndAsync();
            var stderr = install.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await install.WaitForExitAsync(timeout.Token);
            if (install.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm install ws@8 failed ({install.ExitCode}):\n{await stdout}\n{await stderr}");
            }
        }

        return folder;
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }
}
