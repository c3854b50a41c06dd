using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Relay.Bench.Scenarios;

/// <summary>
/// N idle connections: the server's resident memory before and after (KB per connection), how long opening
/// them took, and how long one patch takes to reach all of them.
/// </summary>
public static class ConnectionsScenario
{
    /// <summary>Runs the scenario; memory figures need <paramref name="pid"/>.</summary>
    public static async Task<JsonObject> RunAsync(IClientConnector connector, int? pid, BenchSettings settings, Func<string?> serverFailure)
    {
        var count = settings.Connections;
        var result = new JsonObject { ["scenario"] = "connections", ["connections"] = count };
        var runId = (uint)Random.Shared.Next();
        long reached = 0;
        var reachedAll = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sinks = Enumerable.Range(0, count).Select(_ => new ReceiverSink(runId, 1, null, null)
        {
            OnPatch = _ =>
            {
                if (Interlocked.Increment(ref reached) == count)
                {
                    reachedAll.TrySetResult(Stopwatch.GetTimestamp());
                }
            },
        }).ToArray();
        var clients = Array.Empty<IBenchClient>();
        IBenchClient? sender = null;
        try
        {
            await Task.Delay(settings.Settle);
            var rssBefore = pid is { } p0 ? ProcStats.ResidentKb(p0) : null;
            var cpu0 = pid is { } pc ? ProcStats.CpuSeconds(pc) : 0;
            var connecting = Stopwatch.StartNew();
            clients = await Clients.ConnectAllAsync(connector, sinks, settings.ConnectConcurrency, settings.PhaseTimeout);
            result["connectSeconds"] = Math.Round(connecting.Elapsed.TotalSeconds, 2);
            result["connectsPerSec"] = Math.Round(count / connecting.Elapsed.TotalSeconds);
            if (pid is { } pc1)
            {
                // Server CPU per accepted connection: what opening a session costs, apart from memory.
                result["serverCpuMsPerConnect"] = Math.Round((ProcStats.CpuSeconds(pc1) - cpu0) * 1000 / count, 2);
            }
            if (await Clients.DrainAsync(clients, TimeSpan.FromMilliseconds(500), settings.PhaseTimeout) is { } drainError)
            {
                return FlowScenario.Failed(result, "draining history: " + drainError);
            }

            // Let the server finish what accepting cost (buffers, actors starting) before reading its memory;
            // what it spends meanwhile is what N idle connections cost it in CPU.
            var idleCpu0 = pid is { } pi ? ProcStats.CpuSeconds(pi) : 0;
            var idle = Stopwatch.StartNew();
            await Task.Delay(settings.Settle);
            if (pid is { } pi1)
            {
                result["idleServerCpuPercent"] = Math.Round(100 * (ProcStats.CpuSeconds(pi1) - idleCpu0) / idle.Elapsed.TotalSeconds);
            }
            if ((serverFailure() ?? Clients.FirstEnded(clients, "idle")) is { } lost)
            {
                return FlowScenario.Failed(result, "while idle: " + lost);
            }

            if (pid is { } p1 && rssBefore is { } before && ProcStats.ResidentKb(p1) is { } after)
            {
                result["rssBeforeKb"] = before;
                result["rssAfterKb"] = after;
                result["kbPerConnection"] = Math.Round((after - before) / (double)count, 1);
                result["serverThreads"] = ProcStats.Threads(p1);
            }

            sender = await connector.ConnectAsync(DiscardSink.Instance, TimeSpan.FromSeconds(30));
            var buffer = Patch.NewBuffer(settings.PatchBytes);
            var sent = Stopwatch.GetTimestamp();
            Patch.Write(buffer, runId, 0, 0, sent);
            await sender.SendTextAsync(buffer, CancellationToken.None);
            var error = await Waiting.UntilAsync(
                () => reachedAll.Task.IsCompleted,
                () => Interlocked.Read(ref reached),
                settings.PhaseTimeout,
                settings.StallTimeout,
                () => serverFailure() ?? Clients.FirstEnded(clients, "idle"));
            if (error is not null)
            {
                return FlowScenario.Failed(result, $"one patch to all: {error} (reached {Interlocked.Read(ref reached)} of {count})");
            }

            result["patchToAllMs"] = Math.Round((await reachedAll.Task - sent) * 1000.0 / Stopwatch.Frequency, 2);
            result["ok"] = true;
            return result;
        }
        catch (Exception ex) when (FlowScenario.IsConnectionFailure(ex))
        {
            return FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            if (sender is not null)
            {
                await sender.DisposeAsync();
            }

            await Clients.DisposeAllAsync(clients);
        }
    }
}
