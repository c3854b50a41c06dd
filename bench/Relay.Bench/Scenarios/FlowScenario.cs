using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Fan-out and latency: R receivers and S senders, all connected before the first patch; each sender keeps at
/// most F patches in flight (not yet received by every receiver). Load runs through a warm-up, then a
/// measuring window: deliveries/s (patches received, summed over receivers), patches/s that reached every
/// receiver, and the send-to-receive latency of every delivery in the window. The receivers are raw WebSocket clients,
/// or (<c>fanout-v1</c>, Relay only) <c>relay.v1</c> clients whose frames <see cref="RelayV1Frames"/> reads; the
/// senders stay raw.
/// </summary>
public static class FlowScenario
{
    /// <summary>
    /// Runs the scenario named <paramref name="name"/> (fanout, fanout-v1 or latency) with <paramref name="inFlight"/>
    /// patches in flight; with <paramref name="relayV1Receivers"/>, the receivers speak <c>relay.v1</c>.
    /// </summary>
    public static async Task<JsonObject> RunAsync(string name, IClientConnector connector, int? pid, BenchSettings settings, int receivers, int inFlight, Func<string?> serverFailure, bool relayV1Receivers = false)
    {
        var result = new JsonObject
        {
            ["scenario"] = name,
            ["receivers"] = receivers,
            ["senders"] = settings.Senders,
            ["inFlight"] = inFlight,
            ["patchBytes"] = settings.PatchBytes,
        };
        if (relayV1Receivers)
        {
            result["receiverProtocol"] = RelayV1Connector.SubProtocol;
        }

        var runId = (uint)Random.Shared.Next();
        using var tracker = new DeliveryTracker(settings.Senders, receivers, inFlight);
        var latency = new LatencyRecorder();
        var sinks = Enumerable.Range(0, receivers).Select(_ => new ReceiverSink(runId, settings.Senders, tracker, latency)).ToArray();
        var frames = relayV1Receivers ? sinks.Select(sink => new RelayV1Frames(sink)).ToArray() : [];
        var receiverClients = Array.Empty<IBenchClient>();
        var senderClients = Array.Empty<IBenchClient>();
        using var stop = new CancellationTokenSource();
        var senderLoops = Array.Empty<Task>();
        try
        {
            receiverClients = relayV1Receivers
                ? await Clients.ConnectAllAsync(new RelayV1Connector(connector.Url), frames, settings.ConnectConcurrency, settings.PhaseTimeout)
                : await Clients.ConnectAllAsync(connector, sinks, settings.ConnectConcurrency, settings.PhaseTimeout);
            senderClients = await Clients.ConnectAllAsync(connector, Enumerable.Repeat<IMessageSink>(DiscardSink.Instance, settings.Senders).ToArray(), settings.Senders, settings.PhaseTimeout);
            var all = receiverClients.Concat(senderClients).ToArray();
            if (await Clients.DrainAsync(all, TimeSpan.FromMilliseconds(300), settings.PhaseTimeout) is { } drainError)
            {
                return Failed(result, "draining history: " + drainError);
            }

            result["historyDrained"] = all.Sum(c => c.Received);
            long Delivered() => sinks.Sum(s => s.Patches);
            string? Failure() => serverFailure() ?? Clients.FirstEnded(all, "client") ?? senderLoops.FirstOrDefault(t => t.IsFaulted)?.Exception?.GetBaseException().Message ?? FramingError(frames);

            senderLoops = senderClients.Select((client, index) => Task.Run(() => SendLoopAsync(client, index, runId, settings.PatchBytes, tracker, stop.Token))).ToArray();
            if (await Waiting.WarmUpAsync(settings.Warmup, Delivered, settings.StallTimeout, Failure) is { } warmupError)
            {
                return Failed(result, "warm-up: " + warmupError);
            }

            var delivered0 = Delivered();
            var completed0 = tracker.Completed;
            var cpu0 = pid is { } p0 ? ProcStats.CpuSeconds(p0) : 0;
            var clientCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var window = Stopwatch.StartNew();
            latency.Recording = true;
            var measureError = await Waiting.ForAsync(settings.Measure, Delivered, settings.StallTimeout, Failure);
            latency.Recording = false;
            var seconds = window.Elapsed.TotalSeconds;
            var delivered = Delivered() - delivered0;
            var completed = tracker.Completed - completed0;
            if (measureError is not null)
            {
                return Failed(result, "measuring: " + measureError);
            }

            result["seconds"] = Math.Round(seconds, 2);
            result["deliveriesPerSec"] = Math.Round(delivered / seconds);
            result["patchesPerSec"] = Math.Round(completed / seconds);
            result["p50Ms"] = Math.Round(latency.Milliseconds(50), 3);
            result["p99Ms"] = Math.Round(latency.Milliseconds(99), 3);
            result["maxMs"] = Math.Round(latency.MaxMilliseconds, 3);
            result["latencySamples"] = latency.Count;
            if (pid is { } p1)
            {
                result["serverCpuPercent"] = Math.Round(100 * (ProcStats.CpuSeconds(p1) - cpu0) / seconds);
                result["serverRssKb"] = ProcStats.ResidentKb(p1);
            }

            result["clientCpuPercent"] = Math.Round(100 * (Process.GetCurrentProcess().TotalProcessorTime - clientCpu0).TotalSeconds / seconds);
            result["outOfOrder"] = sinks.Sum(s => s.OutOfOrder);
            result["foreign"] = sinks.Sum(s => s.Foreign);
            if (relayV1Receivers)
            {
                result["seqGaps"] = frames.Sum(f => f.SeqGaps);
                result["badFrames"] = frames.Sum(f => f.BadFrames);
                result["otherFrames"] = frames.Sum(f => f.OtherFrames);
            }

            var framingError = FramingError(frames) ?? (frames.Any(f => !f.HelloSeen) ? "a relay.v1 receiver got no hello" : null);
            result["ok"] = delivered > 0 && sinks.All(s => s.OutOfOrder == 0) && framingError is null;
            if (!(bool)result["ok"]!)
            {
                result["error"] = delivered == 0 ? "nothing delivered" : framingError ?? "patches arrived out of order";
            }

            return result;
        }
        catch (Exception ex) when (FlowScenario.IsConnectionFailure(ex))
        {
            return Failed(result, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await Clients.DisposeAllAsync(senderClients.Concat(receiverClients));
            await Task.WhenAll(senderLoops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>What broke the <c>relay.v1</c> protocol at any receiver (frames it could not read, sequence numbers out of order); null if nothing did.</summary>
    private static string? FramingError(RelayV1Frames[] frames) =>
        frames.Sum(f => f.BadFrames) is > 0 and var bad ? $"{bad} relay.v1 frames broke the protocol"
        : frames.Sum(f => f.SeqGaps) is > 0 and var gaps ? $"{gaps} relay.v1 patches out of sequence"
        : null;

    /// <summary>Marks <paramref name="result"/> failed with <paramref name="error"/>.</summary>
    public static JsonObject Failed(JsonObject result, string error)
    {
        result["ok"] = false;
        result["error"] = error;
        return result;
    }

    /// <summary>How a client's connection fails: WebSocket and SignalR clients alike (refused, timed out, broken).</summary>
    public static bool IsConnectionFailure(Exception ex) =>
        ex is TimeoutException or System.Net.WebSockets.WebSocketException or IOException or InvalidOperationException or HttpRequestException or OperationCanceledException;

    /// <summary>Sends patches as fast as <paramref name="tracker"/> gives credits, until cancelled.</summary>
    public static async Task SendLoopAsync(IBenchClient client, int sender, uint runId, int patchBytes, DeliveryTracker tracker, CancellationToken cancellationToken)
    {
        var buffer = Patch.NewBuffer(patchBytes);
        long seq = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await tracker.WaitForCreditAsync(sender, cancellationToken);
                Patch.Write(buffer, runId, sender, seq++, Stopwatch.GetTimestamp());
                await client.SendTextAsync(buffer, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // The window closed.
        }
        catch (Exception ex) when ((ex is System.Net.WebSockets.WebSocketException or ObjectDisposedException or InvalidOperationException) && cancellationToken.IsCancellationRequested)
        {
            // Aborted at the end of the run.
        }
    }
}
