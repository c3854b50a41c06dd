using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Replay: one sender fills a history of H patches while one watcher receives them (the ingest rate is measured
/// at the watcher, so for Relay it is the durable rate: nothing is relayed before it is journaled); then one new
/// client connects: the time until it has all H is the replay rate, the time until its first patch the time to first
/// frame; then a second new client does the same (the first one may pay for what a server does on its first read).
/// </summary>
public static class ReplayScenario
{
    /// <summary>Runs the scenario.</summary>
    public static async Task<JsonObject> RunAsync(IClientConnector connector, int? pid, BenchSettings settings, Func<string?> serverFailure)
    {
        var history = settings.History;
        var result = new JsonObject { ["scenario"] = "replay", ["history"] = history, ["inFlight"] = settings.ReplayInFlight };
        var runId = (uint)Random.Shared.Next();
        using var tracker = new DeliveryTracker(1, 1, settings.ReplayInFlight);
        var watcherSink = new ReceiverSink(runId, 1, tracker, null);
        var clients = new List<IBenchClient>();
        using var stop = new CancellationTokenSource();
        Task fill = Task.CompletedTask;
        try
        {
            var watcher = await connector.ConnectAsync(watcherSink, TimeSpan.FromSeconds(30));
            clients.Add(watcher);
            var sender = await connector.ConnectAsync(DiscardSink.Instance, TimeSpan.FromSeconds(30));
            clients.Add(sender);
            if (await Clients.DrainAsync(clients, TimeSpan.FromMilliseconds(300), settings.PhaseTimeout) is { } drainError)
            {
                return FlowScenario.Failed(result, "draining history: " + drainError);
            }

            var filling = Stopwatch.StartNew();
            fill = Task.Run(() => FillAsync(sender, runId, settings.PatchBytes, history, tracker, stop.Token));
            var fillError = await Waiting.UntilAsync(
                () => watcherSink.Patches >= history,
                () => watcherSink.Patches,
                settings.PhaseTimeout,
                settings.StallTimeout,
                () => serverFailure() ?? Clients.FirstEnded(clients, "filling") ?? (fill.IsFaulted ? fill.Exception!.GetBaseException().Message : null));
            if (fillError is not null)
            {
                return FlowScenario.Failed(result, $"filling the history: {fillError} (watcher has {watcherSink.Patches} of {history})");
            }

            var fillSeconds = filling.Elapsed.TotalSeconds;
            result["ingestSeconds"] = Math.Round(fillSeconds, 2);
            result["ingestPerSec"] = Math.Round(history / fillSeconds);
            if (pid is { } p)
            {
                result["serverRssKbAfterFill"] = ProcStats.ResidentKb(p);
            }

            // The first joiner since the server started; then a second one, to tell a first-read cost from the replay's own.
            var first = await JoinAsync(connector, runId, history, settings, clients, serverFailure);
            if (first.Error is not null)
            {
                return FlowScenario.Failed(result, $"replaying: {first.Error}");
            }

            result["connectMs"] = first.ConnectMs;
            result["replaySeconds"] = Math.Round(first.Seconds, 2);
            result["replayPerSec"] = Math.Round(history / first.Seconds);
            result["firstFrameMs"] = first.FirstFrameMs;
            var second = await JoinAsync(connector, runId, history, settings, clients, serverFailure);
            if (second.Error is not null)
            {
                return FlowScenario.Failed(result, $"replaying to a second joiner: {second.Error}");
            }

            result["secondReplayPerSec"] = Math.Round(history / second.Seconds);
            result["secondFirstFrameMs"] = second.FirstFrameMs;
            result["outOfOrder"] = watcherSink.OutOfOrder + first.OutOfOrder + second.OutOfOrder;
            result["ok"] = result["outOfOrder"]!.GetValue<long>() == 0;
            if (!(bool)result["ok"]!)
            {
                result["error"] = "patches arrived out of order";
            }

            return result;
        }
        catch (Exception ex) when (FlowScenario.IsConnectionFailure(ex))
        {
            return FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await Clients.DisposeAllAsync(clients);
            await fill.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// Connects a new client and waits until it has the whole history: how long connecting took, how long until
    /// its first patch (from the start of the connect: TCP, upgrade, and for SignalR its handshake), and in all.
    /// </summary>
    private static async Task<Join> JoinAsync(IClientConnector connector, uint runId, int history, BenchSettings settings, List<IBenchClient> clients, Func<string?> serverFailure)
    {
        var firstFrame = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new ReceiverSink(runId, 1, null, null)
        {
            OnPatch = count =>
            {
                if (count == 1)
                {
                    firstFrame.TrySetResult(Stopwatch.GetTimestamp());
                }
            },
        };
        var started = Stopwatch.GetTimestamp();
        var client = await connector.ConnectAsync(sink, TimeSpan.FromSeconds(30), bufferSize: 64 * 1024);
        var connectMs = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 2);
        clients.Add(client);
        var error = await Waiting.UntilAsync(
            () => sink.Patches >= history,
            () => sink.Patches,
            settings.PhaseTimeout,
            settings.StallTimeout,
            () => serverFailure() ?? Clients.FirstEnded(clients, "replaying"));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (error is not null)
        {
            return new Join($"{error} (the joiner has {sink.Patches} of {history})", connectMs, 0, seconds, sink.OutOfOrder);
        }

        var firstFrameMs = Math.Round(Stopwatch.GetElapsedTime(started, await firstFrame.Task).TotalMilliseconds, 2);
        return new Join(null, connectMs, firstFrameMs, seconds, sink.OutOfOrder);
    }

    private static async Task FillAsync(IBenchClient sender, uint runId, int patchBytes, int history, DeliveryTracker tracker, CancellationToken cancellationToken)
    {
        var buffer = Patch.NewBuffer(patchBytes);
        for (long seq = 0; seq < history; seq++)
        {
            await tracker.WaitForCreditAsync(0, cancellationToken);
            Patch.Write(buffer, runId, 0, seq, Stopwatch.GetTimestamp());
            await sender.SendTextAsync(buffer, cancellationToken);
        }
    }

    private sealed record Join(string? Error, double ConnectMs, double FirstFrameMs, double Seconds, long OutOfOrder);
}
