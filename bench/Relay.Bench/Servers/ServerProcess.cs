using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace Relay.Bench.Servers;

/// <summary>A server process the bench started: its output (tail), whether it runs, waiting until it listens, killing it.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ServerProcess(Process process) => _process = process;

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>What the process printed (the last 200 lines).</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Whether the process still runs.</summary>
    public bool IsRunning => !_process.HasExited;

    /// <summary>Starts <paramref name="info"/> (output redirected) and waits until it accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<ServerProcess> StartAsync(ProcessStartInfo info, int port, TimeSpan timeout)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var process = Process.Start(info) ?? throw new InvalidOperationException($"{info.FileName} did not start");
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.Record(e.Data);
        process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                var exitCode = process.ExitCode;
                await server.DisposeAsync();
                throw new InvalidOperationException($"{info.FileName} {string.Join(' ', info.ArgumentList)} exited with {exitCode}:\n{server.Output}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (SocketException) when (waited.Elapsed < timeout)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                await server.DisposeAsync();
                throw new TimeoutException($"{info.FileName} did not listen on {port} within {timeout.TotalSeconds:0} s:\n{server.Output}");
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
