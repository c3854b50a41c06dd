using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Replay: one sender fills a history of H patches while one watcher receives them (the ingest rate is measured
/// at the watcher, so for Relay it is the durable rate: nothing is relayed before it is journaled); then one new
/// client connects: the time until it has all H is the replay rate, the time until its first patch the time to first frame.
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

            var firstFrame = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            var newcomerSink = new ReceiverSink(runId, 1, null, null)
            {
                OnPatch = count =>
                {
                    if (count == 1)
                    {
                        firstFrame.TrySetResult(Stopwatch.GetTimestamp());
                    }
                },
            };
            var replaying = Stopwatch.StartNew();
            var connectStarted = Stopwatch.GetTimestamp();
            var newcomer = await connector.ConnectAsync(newcomerSink, TimeSpan.FromSeconds(30), bufferSize: 64 * 1024);
            result["connectMs"] = Math.Round(Stopwatch.GetElapsedTime(connectStarted).TotalMilliseconds, 2);
            clients.Add(newcomer);
            var replayError = await Waiting.UntilAsync(
                () => newcomerSink.Patches >= history,
                () => newcomerSink.Patches,
                settings.PhaseTimeout,
                settings.StallTimeout,
                () => serverFailure() ?? Clients.FirstEnded(clients, "replaying"));
            if (replayError is not null)
            {
                return FlowScenario.Failed(result, $"replaying: {replayError} (newcomer has {newcomerSink.Patches} of {history})");
            }

            var replaySeconds = replaying.Elapsed.TotalSeconds;
            result["replaySeconds"] = Math.Round(replaySeconds, 2);
            result["replayPerSec"] = Math.Round(history / replaySeconds);

            // From the start of the connect (TCP, upgrade, and for SignalR its handshake) to the first patch of the history.
            result["firstFrameMs"] = Math.Round(Stopwatch.GetElapsedTime(connectStarted, await firstFrame.Task).TotalMilliseconds, 2);
            result["outOfOrder"] = watcherSink.OutOfOrder + newcomerSink.OutOfOrder;
            result["ok"] = watcherSink.OutOfOrder == 0 && newcomerSink.OutOfOrder == 0;
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
}
