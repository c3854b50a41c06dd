using System.Diagnostics;
using System.Text.Json.Nodes;
using Relay.Testing;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Durable ingest over many documents: D documents, each with 2 senders and 1 watcher of its own, the same total
/// number of patches in flight whatever D (a sender's patch is in flight until its document's watcher has it, so for
/// Relay every figure is journaled first). The aggregate patches/s that reached their watchers, over a warm-up and a
/// measuring window. On one node (<see cref="RunAsync"/>) or on a 3-node cluster on PostgreSQL with a placement
/// (<see cref="RunClusterAsync"/>), where each document's senders and watcher are on different nodes.
/// Relay only: the reference relays have no documents.
/// </summary>
public static class DocumentsScenario
{
    private const int SendersPerDocument = 2;

    /// <summary>
    /// Runs <paramref name="documents"/> documents on the node behind <paramref name="baseUrl"/>, each sender with
    /// the share of the patches in flight it would have among <paramref name="loadOf"/> documents: the same total
    /// whatever the documents when <paramref name="loadOf"/> is <paramref name="documents"/>, the same load per
    /// client when it is another run's count.
    /// </summary>
    public static Task<JsonObject> RunAsync(string scenario, Uri baseUrl, int? pid, BenchSettings settings, int documents, int loadOf, Func<string?> serverFailure) =>
        MeasureAsync(
            new JsonObject { ["scenario"] = scenario, ["documents"] = documents },
            Enumerable.Range(0, documents).Select(i => (Sender: DocumentOn(baseUrl, i), Watcher: DocumentOn(baseUrl, i))).ToList(),
            InFlightPerSender(settings, loadOf),
            pid,
            settings,
            serverFailure);

    /// <summary>
    /// Starts a throwaway PostgreSQL and a 3-node cluster with <paramref name="placement"/>, runs
    /// <paramref name="documents"/> documents on it, and stops everything.
    /// </summary>
    public static async Task<JsonObject> RunClusterAsync(BenchSettings settings, string placement, int documents)
    {
        var result = new JsonObject { ["scenario"] = $"cluster-{placement}", ["server"] = "relay", ["documents"] = documents, ["nodes"] = 3 };
        var started = DateTime.UtcNow;
        result["loadAvgBefore"] = Machine.LoadAverage();
        var postgres = new PostgresServer();
        try
        {
            await postgres.StartAsync();
            var database = await postgres.CreateDatabaseAsync("bench");
            await using var cluster = new RelayCluster(postgres.ConnectionStringOf(database), 3, new Dictionary<string, string>
            {
                ["Relay:Documents:Placement"] = placement,
                ["Logging:LogLevel:Default"] = "Warning",
            });
            foreach (var node in cluster.Nodes)
            {
                node.ShippedJit = settings.ShippedJit;
            }

            await cluster.StartAsync(TimeSpan.FromSeconds(120));
            var nodes = cluster.Nodes.Select(node => node.WebSocketUrl).ToArray();

            // Senders on one node, the watcher on the next: every patch crosses the cluster.
            var pairs = Enumerable.Range(0, documents)
                .Select(i => (Sender: DocumentOn(nodes[i % 3], i), Watcher: DocumentOn(nodes[(i + 1) % 3], i)))
                .ToList();
            string? Failure() => cluster.Nodes.FirstOrDefault(node => !node.IsRunning) is { } gone ? $"{gone.Name} exited" : null;
            await MeasureAsync(result, pairs, InFlightPerSender(settings, documents), null, settings, Failure);
            var hosts = new JsonArray();
            foreach (var node in cluster.Nodes)
            {
                hosts.Add((await node.SequencersAsync()).Count);
            }

            // How the sequencers spread over the nodes (the default document's included).
            result["sequencersPerNode"] = hosts;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException or System.Net.WebSockets.WebSocketException)
        {
            FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            await postgres.DisposeAsync();
        }

        result["wallSeconds"] = Math.Round((DateTime.UtcNow - started).TotalSeconds, 1);
        result["loadAvgAfter"] = Machine.LoadAverage();
        return result;
    }

    /// <summary>A sender's patches in flight: <c>--replay-in-flight</c> shared by the senders of <paramref name="documents"/> documents.</summary>
    private static int InFlightPerSender(BenchSettings settings, int documents) => Math.Max(2, settings.ReplayInFlight / (SendersPerDocument * documents));

    private static WebSocketConnector DocumentOn(Uri node, int document) => new(new Uri(node, $"bench/doc-{document}"));

    private static async Task<JsonObject> MeasureAsync(
        JsonObject result,
        IReadOnlyList<(WebSocketConnector Sender, WebSocketConnector Watcher)> documents,
        int inFlight,
        int? pid,
        BenchSettings settings,
        Func<string?> serverFailure)
    {
        result["inFlightPerSender"] = inFlight;
        var runId = (uint)Random.Shared.Next();
        var trackers = documents.Select(_ => new DeliveryTracker(SendersPerDocument, 1, inFlight)).ToArray();
        var sinks = trackers.Select(tracker => new ReceiverSink(runId, SendersPerDocument, tracker, null)).ToArray();
        var clients = new List<IBenchClient>();
        var loops = new List<Task>();
        using var stop = new CancellationTokenSource();
        try
        {
            var senders = new List<(IBenchClient Client, int Index, DeliveryTracker Tracker)>();
            for (var i = 0; i < documents.Count; i++)
            {
                clients.Add(await documents[i].Watcher.ConnectAsync(sinks[i], TimeSpan.FromSeconds(30)));
                for (var s = 0; s < SendersPerDocument; s++)
                {
                    var sender = await documents[i].Sender.ConnectAsync(DiscardSink.Instance, TimeSpan.FromSeconds(30));
                    clients.Add(sender);
                    senders.Add((sender, s, trackers[i]));
                }
            }

            long Completed() => trackers.Sum(tracker => tracker.Completed);
            string? Failure() => serverFailure() ?? Clients.FirstEnded(clients, "client") ?? loops.FirstOrDefault(t => t.IsFaulted)?.Exception?.GetBaseException().Message;
            loops.AddRange(senders.Select(s => Task.Run(() => FlowScenario.SendLoopAsync(s.Client, s.Index, runId, settings.PatchBytes, s.Tracker, stop.Token))));
            if (await Waiting.WarmUpAsync(settings.Warmup, Completed, settings.StallTimeout, Failure) is { } warmupError)
            {
                return FlowScenario.Failed(result, "warm-up: " + warmupError);
            }

            var completed0 = Completed();
            var cpu0 = pid is { } p0 ? ProcStats.CpuSeconds(p0) : 0;
            var window = Stopwatch.StartNew();
            var measureError = await Waiting.ForAsync(settings.Measure, Completed, settings.StallTimeout, Failure);
            var seconds = window.Elapsed.TotalSeconds;
            if (measureError is not null)
            {
                return FlowScenario.Failed(result, "measuring: " + measureError);
            }

            result["seconds"] = Math.Round(seconds, 2);
            result["ingestPerSec"] = Math.Round((Completed() - completed0) / seconds);
            if (pid is { } p1)
            {
                result["serverCpuPercent"] = Math.Round(100 * (ProcStats.CpuSeconds(p1) - cpu0) / seconds);
                result["serverRssKb"] = ProcStats.ResidentKb(p1);
            }

            result["outOfOrder"] = sinks.Sum(s => s.OutOfOrder);
            result["foreign"] = sinks.Sum(s => s.Foreign);
            result["ok"] = Completed() > completed0 && sinks.All(s => s.OutOfOrder == 0 && s.Foreign == 0);
            if (!(bool)result["ok"]!)
            {
                result["error"] = "patches arrived out of order, in another document, or not at all";
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
            await Task.WhenAll(loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var tracker in trackers)
            {
                tracker.Dispose();
            }
        }
    }
}
