using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Cursors through ephemeral broadcasts (issue 21), Relay only: <see cref="Clients"/> <c>relay.v1</c> clients in one
/// document, each broadcasting a cursor position at <see cref="Hertz"/> Hz; every other client receives each one.
/// Figures: deliveries/s, send-to-receive p50/p99/max, server CPU, bytes per second each client receives, and the
/// document's head before and after (a broadcast is never journaled: it must not move).
/// </summary>
public static class PresenceScenario
{
    /// <summary>Clients in the document.</summary>
    public const int Clients = 50;

    /// <summary>Cursor moves per second per client.</summary>
    public const int Hertz = 10;

    private const string Document = "bench/cursors";
    private static readonly byte[] BroadcastHeader = Encoding.UTF8.GetBytes("{\"type\":\"broadcast\"}\n");

    /// <summary>Runs the scenario on the node whose WebSocket URL is <paramref name="socketUrl"/>.</summary>
    public static async Task<JsonObject> RunAsync(Uri socketUrl, int? pid, BenchSettings settings, Func<string?> serverFailure)
    {
        var result = new JsonObject { ["scenario"] = "cursors", ["clients"] = Clients, ["hertz"] = Hertz };
        var latency = new LatencyRecorder();
        var sockets = new List<ClientWebSocket>();
        var loops = new List<Task>();
        long delivered = 0, bytes = 0;
        using var stop = new CancellationTokenSource();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{socketUrl.Authority}/"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            for (var i = 0; i < Clients; i++)
            {
                var socket = new ClientWebSocket();
                socket.Options.AddSubProtocol("relay.v1");
                await socket.ConnectAsync(new Uri(socketUrl, $"{Document}?client=cursor{i}&user=user{i}"), CancellationToken.None);
                sockets.Add(socket);
            }

            // Every client reads first: its hello, then whatever comes; broadcasts are timed by the stamp they carry.
            loops.AddRange(sockets.Select(socket => Task.Run(() => ReceiveLoopAsync(socket, latency, n => { Interlocked.Increment(ref delivered); Interlocked.Add(ref bytes, n); }, stop.Token))));
            var head0 = await HeadAsync(http);
            loops.AddRange(sockets.Select((socket, i) => Task.Run(() => SendLoopAsync(socket, i, stop.Token))));
            string? Failure() => serverFailure() ?? loops.FirstOrDefault(t => t.IsFaulted)?.Exception?.GetBaseException().Message;
            if (await Waiting.WarmUpAsync(settings.Warmup, () => Interlocked.Read(ref delivered), settings.StallTimeout, Failure) is { } warmupError)
            {
                return FlowScenario.Failed(result, "warm-up: " + warmupError);
            }

            var delivered0 = Interlocked.Read(ref delivered);
            var bytes0 = Interlocked.Read(ref bytes);
            var cpu0 = pid is { } p0 ? ProcStats.CpuSeconds(p0) : 0;
            latency.Recording = true;
            var window = Stopwatch.StartNew();
            var measureError = await Waiting.ForAsync(settings.Measure, () => Interlocked.Read(ref delivered), settings.StallTimeout, Failure);
            latency.Recording = false;
            var seconds = window.Elapsed.TotalSeconds;
            if (measureError is not null)
            {
                return FlowScenario.Failed(result, "measuring: " + measureError);
            }

            result["seconds"] = Math.Round(seconds, 2);
            result["deliveriesPerSec"] = Math.Round((Interlocked.Read(ref delivered) - delivered0) / seconds);
            result["expectedPerSec"] = Clients * (Clients - 1) * Hertz;
            result["p50Ms"] = Math.Round(latency.Milliseconds(50), 2);
            result["p99Ms"] = Math.Round(latency.Milliseconds(99), 2);
            result["maxMs"] = Math.Round(latency.MaxMilliseconds, 2);
            result["latencySamples"] = latency.Count;
            result["bytesPerSecPerClient"] = Math.Round((Interlocked.Read(ref bytes) - bytes0) / seconds / Clients);
            if (pid is { } p1)
            {
                result["serverCpuPercent"] = Math.Round(100 * (ProcStats.CpuSeconds(p1) - cpu0) / seconds);
                result["serverRssKb"] = ProcStats.ResidentKb(p1);
            }

            var head1 = await HeadAsync(http);
            result["journalHeadBefore"] = head0;
            result["journalHeadAfter"] = head1;
            result["ok"] = head0 == head1 && latency.Count > 0;
            if (head0 != head1)
            {
                result["error"] = $"the document's head moved from {head0} to {head1}: broadcasts were journaled";
            }

            return result;
        }
        catch (Exception ex) when (ex is WebSocketException or HttpRequestException or IOException or InvalidOperationException)
        {
            return FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task<long> HeadAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>(Document)).GetProperty("lastSequence").GetInt64();

    // A cursor move every 1/Hertz s, stamped with when it was sent: {"x":…,"y":…,"t":TIMESTAMP}.
    private static async Task SendLoopAsync(ClientWebSocket socket, int client, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / Hertz));
        var buffer = new byte[256];
        BroadcastHeader.CopyTo(buffer, 0);
        try
        {
            // Spread the clients over the period, as independent people are.
            await Task.Delay(TimeSpan.FromMilliseconds(1000.0 / Hertz * client / Clients), stop);
            for (var move = 0; await timer.WaitForNextTickAsync(stop); move++)
            {
                var payload = Encoding.UTF8.GetBytes($"{{\"x\":{move % 1000},\"y\":{client},\"t\":{Stopwatch.GetTimestamp()}}}");
                payload.CopyTo(buffer, BroadcastHeader.Length);
                await socket.SendAsync(buffer.AsMemory(0, BroadcastHeader.Length + payload.Length), WebSocketMessageType.Text, true, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static async Task ReceiveLoopAsync(ClientWebSocket socket, LatencyRecorder latency, Action<int> onBroadcast, CancellationToken stop)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var length = 0;
                ValueWebSocketReceiveResult received;
                do
                {
                    received = await socket.ReceiveAsync(buffer.AsMemory(length), stop);
                    length += received.Count;
                }
                while (!received.EndOfMessage && length < buffer.Length);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"the server closed a cursor client: {socket.CloseStatus} {socket.CloseStatusDescription}");
                }

                var frame = buffer.AsSpan(0, length);
                var newline = frame.IndexOf((byte)'\n');
                if (newline < 0 || frame[..newline].IndexOf("\"type\":\"broadcast\""u8) < 0)
                {
                    continue;
                }

                var payload = frame[(newline + 1)..];
                var stamp = payload.LastIndexOf("\"t\":"u8);
                if (stamp >= 0 && System.Buffers.Text.Utf8Parser.TryParse(payload[(stamp + 4)..], out long sent, out _))
                {
                    latency.Record(sent);
                }

                onBroadcast(length);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
