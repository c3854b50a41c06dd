using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Joins that should cost the state, not the history (issue 10): one sender fills the default document with
/// Immer patches of about 128 bytes touching a fixed set of keys, then it measures
/// <list type="bullet">
/// <item>a full join: the time and bytes until a new client holds the whole state (Relay: a <c>relay.v1</c>
/// client until the sequence number its hello named; the reference: every patch);</item>
/// <item>a resume (Relay only): a <c>relay.v1</c> client that holds all but the last 1,000 patches resumes;</item>
/// <item>20 full joins at once: the server's peak resident memory above its level before them, within 30 s
/// (and how many completed by then).</item>
/// </list>
/// Run on the reference relay and on Relay with and without <c>Relay:Compaction:Mode</c>, each fresh.
/// </summary>
public static class StateJoinScenario
{
    private const int ReceiveBuffer = 64 * 1024;
    private const int FillInFlight = 2000;
    private const int Missed = 1000;
    private const int SimultaneousJoins = 20;
    private static readonly TimeSpan JoinsWindow = TimeSpan.FromSeconds(30);

    /// <summary>Runs the scenario against the server at <paramref name="url"/> (<paramref name="enveloped"/>: it speaks relay.v1).</summary>
    public static async Task<JsonObject> RunAsync(string scenario, Uri url, int? pid, bool enveloped, BenchSettings settings)
    {
        var patches = settings.StatePatches;
        var result = new JsonObject { ["scenario"] = scenario, ["patches"] = patches, ["keys"] = settings.StateKeys };
        try
        {
            var filling = Stopwatch.StartNew();
            await FillAsync(url, patches, settings.StateKeys, settings.PhaseTimeout);
            result["ingestSeconds"] = Math.Round(filling.Elapsed.TotalSeconds, 2);
            result["ingestPerSec"] = Math.Round(patches / filling.Elapsed.TotalSeconds);

            var full = await JoinAsync(url, enveloped, patches, resume: null, settings.PhaseTimeout);
            result["joinSeconds"] = Math.Round(full.Seconds, 3);
            result["joinFrames"] = full.Frames;
            result["joinBytes"] = full.Bytes;
            if (enveloped)
            {
                var resume = await JoinAsync(url, enveloped, patches, (full.Epoch!, full.Head - Missed), settings.PhaseTimeout);
                result["resumeMissed"] = Missed;
                result["resumeSeconds"] = Math.Round(resume.Seconds, 3);
                result["resumeFrames"] = resume.Frames;
                result["resumeBytes"] = resume.Bytes;
                result["resumed"] = resume.Resumed;
            }

            if (pid is { } p)
            {
                var before = ProcStats.ResidentKb(p) ?? 0;
                using var sampling = new CancellationTokenSource();
                var peak = Task.Run(async () =>
                {
                    var max = before;
                    while (!sampling.IsCancellationRequested)
                    {
                        max = Math.Max(max, ProcStats.ResidentKb(p) ?? 0);
                        await Task.Delay(20, CancellationToken.None);
                    }

                    return max;
                });
                // Peak memory comes early, while every joiner's buffers fill: the joins get a window, not all the time
                // 20 full replays of a long history take (minutes for the seed relay at 1,000,000 patches).
                var started = Stopwatch.StartNew();
                var joins = await Task.WhenAll(Enumerable.Range(0, SimultaneousJoins).Select(async _ =>
                {
                    try
                    {
                        await JoinAsync(url, enveloped, patches, null, JoinsWindow);
                        return true;
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
                    {
                        return false;
                    }
                }));
                result["joins20Completed"] = joins.Count(done => done);
                result["joins20Seconds"] = Math.Round(started.Elapsed.TotalSeconds, 2);
                await sampling.CancelAsync();
                result["rssBeforeJoinsKb"] = before;
                result["joins20PeakRssRiseKb"] = await peak - before;
            }

            result["ok"] = true;
        }
        catch (Exception ex) when (ex is WebSocketException or TimeoutException or OperationCanceledException or InvalidOperationException or IOException)
        {
            result["ok"] = false;
            result["error"] = ex.Message;
        }

        return result;
    }

    /// <summary>
    /// Patch i sets key <c>k{i % keys}</c> (<c>add</c> the first time, <c>replace</c> after), as the original
    /// client's Immer patches do; a watcher counts them, so at most <see cref="FillInFlight"/> are unconfirmed.
    /// </summary>
    private static async Task FillAsync(Uri url, int patches, int keys, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var sender = await ConnectAsync(url, enveloped: false, deadline.Token);
        using var watcher = await ConnectAsync(url, enveloped: false, deadline.Token);
        var received = 0;
        var watching = Task.Run(async () =>
        {
            var buffer = new byte[ReceiveBuffer];
            while (Volatile.Read(ref received) < patches)
            {
                var message = await ReceiveAsync(watcher, buffer, deadline.Token);
                if (message.Count == 0 && message.Closed)
                {
                    throw new WebSocketException("the watcher was closed while filling");
                }

                Interlocked.Increment(ref received);
            }
        });
        var pad = new string('x', 48);
        for (var i = 0; i < patches; i++)
        {
            while (i - Volatile.Read(ref received) >= FillInFlight)
            {
                if (watching.IsCompleted)
                {
                    await watching;
                }

                await Task.Delay(1, deadline.Token);
            }

            var op = i < keys ? "add" : "replace";
            var text = $"[{{\"op\":\"{op}\",\"path\":[\"k{i % keys}\"],\"value\":{{\"n\":{i},\"pad\":\"{pad}\"}}}}]";
            await sender.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, deadline.Token);
        }

        await watching;
    }

    /// <summary>
    /// A new client until it holds everything: a relay.v1 one until the sequence number its hello named (after
    /// <paramref name="resume"/>'s point, if given), a raw one until <paramref name="patches"/> patches.
    /// </summary>
    private static async Task<Join> JoinAsync(Uri url, bool enveloped, int patches, (string Epoch, long After)? resume, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var target = resume is { } r ? new Uri($"{url}?after={r.After}&epoch={r.Epoch}") : url;
        var started = Stopwatch.StartNew();
        using var client = await ConnectAsync(target, enveloped, deadline.Token);
        var buffer = new byte[ReceiveBuffer];
        long frames = 0, bytes = 0, head = patches, seq = 0;
        string? epoch = null;
        var resumed = false;
        if (enveloped)
        {
            var hello = await ReceiveAsync(client, buffer, deadline.Token);
            bytes += hello.Count;
            using var json = JsonDocument.Parse(buffer.AsMemory(0, hello.Count));
            head = json.RootElement.GetProperty("head").GetInt64();
            epoch = json.RootElement.GetProperty("epoch").GetString();
            resumed = json.RootElement.GetProperty("resumed").GetBoolean();
            seq = resumed ? resume!.Value.After : 0;
        }

        while (enveloped ? seq < head : frames < patches)
        {
            var message = await ReceiveAsync(client, buffer, deadline.Token);
            if (message.Closed)
            {
                throw new WebSocketException($"closed after {frames} frames");
            }

            frames++;
            bytes += message.Count;
            if (enveloped)
            {
                seq = SequenceOf(buffer.AsSpan(0, Math.Min(message.Count, 128)));
            }
        }

        return new Join(started.Elapsed.TotalSeconds, frames, bytes, head, epoch, resumed);
    }

    private static long SequenceOf(ReadOnlySpan<byte> start)
    {
        var seqAt = start.IndexOf("\"seq\":"u8);
        if (seqAt < 0)
        {
            throw new InvalidOperationException("a relay.v1 frame without seq");
        }

        long value = 0;
        foreach (var b in start[(seqAt + 6)..])
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                break;
            }

            value = value * 10 + (b - '0');
        }

        return value;
    }

    private static async Task<ClientWebSocket> ConnectAsync(Uri url, bool enveloped, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        if (enveloped)
        {
            socket.Options.AddSubProtocol("relay.v1");
        }

        await socket.ConnectAsync(url, cancellationToken);
        return socket;
    }

    /// <summary>Reads one whole message; its first bytes (up to the buffer's size) stay in <paramref name="buffer"/>.</summary>
    private static async Task<(int Count, bool Closed)> ReceiveAsync(ClientWebSocket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            // Past the first half, the rest of a large message overwrites the second half: only the header matters.
            var offset = Math.Min(total, buffer.Length / 2);
            var result = await socket.ReceiveAsync(buffer.AsMemory(offset), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return (total, true);
            }

            total += result.Count;
            if (result.EndOfMessage)
            {
                return (total, false);
            }
        }
    }

    private sealed record Join(double Seconds, long Frames, long Bytes, long Head, string? Epoch, bool Resumed);
}
