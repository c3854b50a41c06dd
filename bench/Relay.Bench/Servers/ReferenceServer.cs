using System.Diagnostics;
using Relay.Testing;

namespace Relay.Bench.Servers;

/// <summary>
/// The original Node.js relay (<c>reference/seed-relay.mjs</c>, in memory only) run with <c>node</c> from a
/// folder where <c>ws@8</c> is installed once per machine.
/// </summary>
public sealed class ReferenceServer : IServerUnderTest
{
    private readonly ServerProcess _process;

    private ReferenceServer(ServerProcess process, int port)
    {
        _process = process;
        Url = new Uri($"ws://127.0.0.1:{port}/");
        Connector = new WebSocketConnector(Url);
    }

    /// <inheritdoc />
    public string Name => "reference";

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

    /// <summary>Whether <c>ws@8</c> is already installed where the reference runs (the smoke run installs nothing).</summary>
    public static bool IsInstalled => File.Exists(Path.Combine(Folder, "node_modules", "ws", "package.json"));

    private static string Folder => Path.Combine(Path.GetTempPath(), "relay-bench", "reference");

    /// <summary>Starts the reference relay on a free loopback port and waits until it accepts connections.</summary>
    public static async Task<ReferenceServer> StartAsync()
    {
        var folder = await PrepareAsync();
        var port = FreePort.Next();
        var info = new ProcessStartInfo("node") { WorkingDirectory = folder };
        info.ArgumentList.Add("seed-relay.mjs");
        info.Environment["PORT"] = port.ToString();
        return new ReferenceServer(await ServerProcess.StartAsync(info, port, TimeSpan.FromSeconds(30)), port);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _process.DisposeAsync();

    /// <summary>
    /// A folder with the reference relay and <c>ws@8</c> installed, made once. The copy listens on 127.0.0.1
    /// only (the original listens on every interface); nothing else differs.
    /// </summary>
    private static async Task<string> PrepareAsync()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "reference", "seed-relay.mjs");
        var folder = Folder;
        Directory.CreateDirectory(folder);
        var script = await File.ReadAllTextAsync(source);
        const string Original = "new WebSocketServer({ port })";
        if (!script.Contains(Original, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{source} no longer creates its server with `{Original}`; update {nameof(ReferenceServer)}");
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "seed-relay.mjs"), script.Replace(Original, "new WebSocketServer({ port, host: \"127.0.0.1\" })", StringComparison.Ordinal));
        if (!IsInstalled)
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
}
