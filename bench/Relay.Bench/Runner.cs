using System.Text.Json;
using System.Text.Json.Nodes;
using Relay.Bench.Scenarios;
using Relay.Bench.Servers;

namespace Relay.Bench;

/// <summary>Runs scenarios against a given URL, or against fresh servers it starts and kills itself.</summary>
public static class Runner
{
    /// <summary>
    /// The scenarios, in the order they run; each on every server, but <c>fanout-v1</c> (fan-out to <c>relay.v1</c>
    /// receivers, what the client library speaks) on Relay only, beside its raw fan-out.
    /// </summary>
    public static readonly string[] AllScenarios = ["fanout", "fanout-v1", "latency", "connections", "replay", "join"];

    /// <summary>
    /// Relay's own scenarios, after the side-by-side ones, each on a fresh Relay: durable ingest on one node with 1
    /// and with 100 documents (the same patches in flight in all), one document whose two senders have the load
    /// of documents-100's senders (<c>documents-1-light</c>), the server API's durable publish and change feed
    /// (<c>api</c>, <see cref="ApiScenario"/>), 50 cursors broadcasting at 10 Hz (<c>cursors</c>,
    /// <see cref="PresenceScenario"/>), and a 3-node cluster with each placement (not in the
    /// smoke run).
    /// </summary>
    public static readonly string[] DocumentScenarios = ["documents-1", "api", "cursors", "documents-1-light", "documents-100", "cluster-singleton", "cluster-sharded"];

    /// <summary>
    /// Joins that cost the state (issue 10), each on a fresh server: <c>state-join</c> on the reference and on
    /// Relay, <c>state-join-compacted</c> on Relay with <c>Relay:Compaction:Mode=immer</c>.
    /// </summary>
    public static readonly string[] StateScenarios = ["state-join", "state-join-compacted"];

    /// <summary>The servers every scenario runs against, in the order they run.</summary>
    public static readonly ServerKind[] AllServers = [ServerKind.Reference, ServerKind.SignalR, ServerKind.Relay];

    /// <summary>The servers <paramref name="scenario"/> (one of <see cref="AllScenarios"/>) runs on, in order.</summary>
    public static IEnumerable<ServerKind> ServersOf(string scenario) => scenario == "fanout-v1" ? [ServerKind.Relay] : AllServers;

    /// <summary>Runs <paramref name="scenario"/> with clients from <paramref name="connector"/>, on a server the bench may not have started.</summary>
    public static Task<JsonObject> RunAsync(string scenario, IClientConnector connector, int? pid, BenchSettings settings, Func<string?> serverFailure, int? receivers = null) => scenario switch
    {
        "fanout" => FlowScenario.RunAsync("fanout", connector, pid, settings, receivers ?? settings.Receivers, settings.FanoutInFlight, serverFailure),
        "fanout-v1" => FlowScenario.RunAsync("fanout-v1", connector, pid, settings, receivers ?? settings.Receivers, settings.FanoutInFlight, serverFailure, relayV1Receivers: true),
        "latency" => FlowScenario.RunAsync("latency", connector, pid, settings, receivers ?? settings.Receivers, settings.LatencyInFlight, serverFailure),
        "connections" => ConnectionsScenario.RunAsync(connector, pid, settings, serverFailure),
        "replay" => ReplayScenario.RunAsync(connector, pid, settings, serverFailure),
        "join" => JoinScenario.RunAsync(connector, settings, serverFailure),
        "documents-1" => DocumentsScenario.RunAsync(scenario, connector.Url, pid, settings, 1, loadOf: 1, serverFailure),
        "documents-1-light" => DocumentsScenario.RunAsync(scenario, connector.Url, pid, settings, 1, loadOf: 100, serverFailure),
        "documents-100" => DocumentsScenario.RunAsync(scenario, connector.Url, pid, settings, 100, loadOf: 100, serverFailure),
        "api" => ApiScenario.RunAsync(connector.Url, pid, settings, serverFailure),
        "cursors" => PresenceScenario.RunAsync(connector.Url, pid, settings, serverFailure),
        _ => throw new ArgumentException($"unknown scenario '{scenario}'; use {string.Join(", ", AllScenarios.Concat(DocumentScenarios))}"),
    };

    /// <summary>Starts a fresh <paramref name="kind"/> server, runs one scenario on it, kills it.</summary>
    public static Task<JsonObject> RunOnFreshAsync(ServerKind kind, string scenario, BenchSettings settings, int? receivers = null) =>
        scenario == "api"
            ? OnFreshServerAsync(ServerKind.Relay, scenario, settings, ApiScenario.RelaySettings, server =>
                ApiScenario.RunAsync(server.Url, server.ProcessId, settings, () => server.IsRunning ? null : "the server process exited"))
            : OnFreshServerAsync(kind, scenario, settings, relaySettings: null, server =>
        {
            string? Failure() => server.IsRunning ? null : "the server process exited";
            return RunAsync(scenario, server.Connector, server.ProcessId, settings, Failure, receivers);
        });

    /// <summary>Runs a state-join scenario on a fresh <paramref name="kind"/> server (Relay with compaction for <c>state-join-compacted</c>).</summary>
    public static Task<JsonObject> RunStateJoinOnFreshAsync(ServerKind kind, string scenario, BenchSettings settings) =>
        OnFreshServerAsync(
            kind,
            scenario,
            settings,
            scenario == "state-join-compacted" ? new Dictionary<string, string> { ["Relay:Compaction:Mode"] = "immer" } : null,
            server => StateJoinScenario.RunAsync(scenario, server.Url, server.ProcessId, enveloped: kind == ServerKind.Relay, settings));

    /// <summary>Starts a fresh <paramref name="kind"/> server (Relay with <paramref name="relaySettings"/>), runs <paramref name="run"/> on it, kills it.</summary>
    private static async Task<JsonObject> OnFreshServerAsync(
        ServerKind kind,
        string scenario,
        BenchSettings settings,
        IReadOnlyDictionary<string, string>? relaySettings,
        Func<IServerUnderTest, Task<JsonObject>> run)
    {
        var started = DateTime.UtcNow;
        var load = Machine.LoadAverage();
        IServerUnderTest server;
        try
        {
            server = kind switch
            {
                ServerKind.Relay => await RelayServer.StartAsync(relaySettings, settings.ShippedJit),
                ServerKind.SignalR => await SignalRServer.StartAsync(),
                _ => await ReferenceServer.StartAsync(),
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            return new JsonObject { ["scenario"] = scenario, ["server"] = Name(kind), ["ok"] = false, ["error"] = "server did not start: " + ex.Message };
        }

        await using (server)
        {
            var result = await run(server);
            result.Insert(1, "server", server.Name);
            result["wallSeconds"] = Math.Round((DateTime.UtcNow - started).TotalSeconds, 1);

            // Other work on this shared 2-core machine skews figures; the load average says how much there was.
            result["loadAvgBefore"] = load;
            result["loadAvgAfter"] = Machine.LoadAverage();
            if (result["ok"]?.GetValue<bool>() != true)
            {
                result["serverRunning"] = server.IsRunning;
                result["serverLogTail"] = string.Join('\n', server.Output.Split('\n').TakeLast(15));
            }

            return result;
        }
    }

    /// <summary>The servers a state-join scenario runs on.</summary>
    public static IEnumerable<ServerKind> StateJoinServers(string scenario) =>
        scenario == "state-join" ? [ServerKind.Reference, ServerKind.Relay] : [ServerKind.Relay];

    /// <summary>Every scenario against the reference, the SignalR relay and Relay, each on a fresh server; prints each line and the ratios.</summary>
    public static async Task<JsonObject> VersusAsync(BenchSettings settings, IReadOnlyList<string> scenarios)
    {
        var results = new JsonArray();
        foreach (var scenario in scenarios.Where(s => !DocumentScenarios.Contains(s) && !StateScenarios.Contains(s)))
        {
            foreach (var kind in ServersOf(scenario))
            {
                var result = await RunOnFreshAsync(kind, scenario, settings);
                Print(result);
                results.Add(result);
            }
        }

        foreach (var scenario in DocumentScenarios.Where(scenarios.Contains))
        {
            var result = scenario.StartsWith("cluster-", StringComparison.Ordinal)
                ? await DocumentsScenario.RunClusterAsync(settings, scenario["cluster-".Length..], 100)
                : await RunOnFreshAsync(ServerKind.Relay, scenario, settings);
            Print(result);
            results.Add(result);
        }

        foreach (var scenario in StateScenarios.Where(scenarios.Contains))
        {
            foreach (var kind in StateJoinServers(scenario))
            {
                var result = await RunStateJoinOnFreshAsync(kind, scenario, settings);
                Print(result);
                results.Add(result);
            }
        }

        var comparison = Compare(results);
        Print(comparison);
        return new JsonObject
        {
            ["machine"] = Machine.Describe(),
            ["measuredAt"] = DateTime.UtcNow.ToString("u"),
            ["settings"] = Describe(settings),
            ["results"] = results,
            ["comparison"] = comparison,
        };
    }

    /// <summary>Relay over each other server for each scenario's figure, and the goals of the performance issue.</summary>
    public static JsonObject Compare(JsonArray results)
    {
        IEnumerable<JsonObject> Completed(string server) =>
            results.OfType<JsonObject>().Where(r => (string?)r["server"] == server && r["ok"]?.GetValue<bool>() == true);
        double? Figure(string scenario, string server, string key) =>
            Completed(server).FirstOrDefault(r => (string?)r["scenario"] == scenario)?[key].AsDouble();
        double? Over(double? relay, double? other) => relay is { } r && other is { } o && o != 0 ? Math.Round(r / o, 2) : null;
        double? Ratio(string scenario, string key, string other) => Over(Figure(scenario, "relay", key), Figure(scenario, other, key));
        double? FanoutV1Over(string key, string server) => Over(Figure("fanout-v1", "relay", key), Figure("fanout", server, key));

        // The longest single delivery in any fan-out or light-load run of a server (each run on a fresh server).
        double? MaxLatency(string server) =>
            Completed(server).Where(r => (string?)r["scenario"] is "fanout" or "latency").Select(r => r["maxMs"].AsDouble()).Max();
        JsonObject Ratios(string other) => new()
        {
            ["fanoutDeliveries"] = Ratio("fanout", "deliveriesPerSec", other),
            ["fanoutP99"] = Ratio("fanout", "p99Ms", other),
            ["fanoutV1Deliveries"] = FanoutV1Over("deliveriesPerSec", other),
            ["fanoutV1P99"] = FanoutV1Over("p99Ms", other),
            ["lightDeliveries"] = Ratio("latency", "deliveriesPerSec", other),
            ["lightP50"] = Ratio("latency", "p50Ms", other),
            ["lightP99"] = Ratio("latency", "p99Ms", other),
            ["maxLatency"] = Over(MaxLatency("relay"), MaxLatency(other)),
            ["kbPerConnection"] = Ratio("connections", "kbPerConnection", other),
            ["patchToAll"] = Ratio("connections", "patchToAllMs", other),
            ["replay"] = Ratio("replay", "replayPerSec", other),
            ["firstFrame"] = Ratio("replay", "firstFrameMs", other),
            ["ingest"] = Ratio("replay", "ingestPerSec", other),
        };
        JsonObject Goal(string name, double? value, string rule, Func<double, bool> met) =>
            new() { ["target"] = name, ["value"] = value, ["rule"] = rule, ["met"] = value is { } v ? met(v) : null };

        var vsReference = Ratios("reference");
        var vsSignalR = Ratios("signalr");
        double? Of(JsonObject ratios, string key) => ratios[key].AsDouble();
        // Other work on this shared machine moves every figure: the run's range of 1-minute load averages.
        var loads = results.OfType<JsonObject>().SelectMany(r => new[] { r["loadAvgBefore"].AsDouble(), r["loadAvgAfter"].AsDouble() }).OfType<double>().ToArray();
        return new JsonObject
        {
            ["scenario"] = "comparison",
            ["loadAverage"] = loads.Length == 0 ? null : new JsonObject { ["min"] = loads.Min(), ["max"] = loads.Max() },
            ["maxLatencyMs"] = new JsonObject { ["reference"] = MaxLatency("reference"), ["signalr"] = MaxLatency("signalr"), ["relay"] = MaxLatency("relay") },
            ["relayOverReference"] = vsReference,
            ["relayOverSignalR"] = vsSignalR,
            ["fanoutV1"] = new JsonObject
            {
                ["deliveriesPerSec"] = Figure("fanout-v1", "relay", "deliveriesPerSec"),
                ["p99Ms"] = Figure("fanout-v1", "relay", "p99Ms"),
                ["deliveriesOverRaw"] = FanoutV1Over("deliveriesPerSec", "relay"),
                ["p99OverRaw"] = FanoutV1Over("p99Ms", "relay"),
            },
            ["documents"] = new JsonObject
            {
                ["ingestOneDocument"] = Figure("documents-1", "relay", "ingestPerSec"),
                ["apiPublishPerSec"] = Figure("api", "relay", "publishPerSec"),
                ["apiPublishP99Ms"] = Figure("api", "relay", "p99Ms"),
                ["apiLiveFeedPerSec"] = Figure("api", "relay", "liveFeedPerSec"),
                ["apiFeedCatchUpPerSec"] = Figure("api", "relay", "feedCatchUpPerSec"),
                ["cursorsDeliveriesPerSec"] = Figure("cursors", "relay", "deliveriesPerSec"),
                ["cursorsP99Ms"] = Figure("cursors", "relay", "p99Ms"),
                ["ingestHundredDocuments"] = Figure("documents-100", "relay", "ingestPerSec"),
                ["hundredOverOne"] = Over(Figure("documents-100", "relay", "ingestPerSec"), Figure("documents-1", "relay", "ingestPerSec")),
                ["ingestOneDocumentLight"] = Figure("documents-1-light", "relay", "ingestPerSec"),
                ["hundredOverOneLight"] = Over(Figure("documents-100", "relay", "ingestPerSec"), Figure("documents-1-light", "relay", "ingestPerSec")),
                ["clusterSingleton"] = Figure("cluster-singleton", "relay", "ingestPerSec"),
                ["clusterSharded"] = Figure("cluster-sharded", "relay", "ingestPerSec"),
                ["shardedOverSingleton"] = Over(Figure("cluster-sharded", "relay", "ingestPerSec"), Figure("cluster-singleton", "relay", "ingestPerSec")),
            },
            ["joinRaceFree"] = new JsonObject
            {
                ["reference"] = Completed("reference").Any(r => (string?)r["scenario"] == "join"),
                ["signalr"] = Completed("signalr").Any(r => (string?)r["scenario"] == "join"),
                ["relay"] = Completed("relay").Any(r => (string?)r["scenario"] == "join"),
            },
            ["targets"] = new JsonArray
            {
                Goal("fan-out deliveries/s >= 4x reference", Of(vsReference, "fanoutDeliveries"), "ratio >= 4", v => v >= 4),
                Goal("fan-out deliveries/s >= 2x SignalR", Of(vsSignalR, "fanoutDeliveries"), "ratio >= 2", v => v >= 2),
                Goal("fan-out p99 <= SignalR", Of(vsSignalR, "fanoutP99"), "ratio <= 1", v => v <= 1),
                Goal("light-load deliveries/s >= reference", Of(vsReference, "lightDeliveries"), "ratio >= 1", v => v >= 1),
                Goal("light-load deliveries/s >= SignalR", Of(vsSignalR, "lightDeliveries"), "ratio >= 1", v => v >= 1),
                Goal("light-load p99 <= reference", Of(vsReference, "lightP99"), "ratio <= 1", v => v <= 1),
                Goal("light-load p99 <= SignalR", Of(vsSignalR, "lightP99"), "ratio <= 1", v => v <= 1),
                Goal("max latency in any run <= 2x SignalR", Of(vsSignalR, "maxLatency"), "ratio <= 2", v => v <= 2),
                Goal("<= 12 KB per idle connection", Figure("connections", "relay", "kbPerConnection"), "KB <= 12", v => v <= 12),
                Goal("one patch to all idle connections <= reference", Of(vsReference, "patchToAll"), "ratio <= 1", v => v <= 1),
                Goal("replay messages/s >= reference", Of(vsReference, "replay"), "ratio >= 1", v => v >= 1),
                Goal("replay first frame <= 10 ms", Figure("replay", "relay", "firstFrameMs"), "ms <= 10", v => v <= 10),
                Goal("durable ingest >= 50,000 patches/s", Figure("replay", "relay", "ingestPerSec"), "patches/s >= 50000", v => v >= 50_000),
            },
        };
    }

    /// <summary>
    /// Each scenario, tiny, against each server, fresh (of the documents scenarios, the two shapes on one node;
    /// documents-1-light is documents-1 with less in flight); true if all completed with sane figures. Installs nothing:
    /// the reference relay runs only where <c>ws@8</c> is installed already (by a full run), and is reported skipped otherwise.
    /// </summary>
    public static async Task<bool> SmokeAsync(BenchSettings settings)
    {
        var ok = true;
        var runs = AllScenarios.SelectMany(s => ServersOf(s).Select(k => (s, k)))
            .Concat(new[] { "documents-1", "documents-100", "api", "cursors" }.Select(s => (s, ServerKind.Relay)))
            .Concat(StateScenarios.SelectMany(s => StateJoinServers(s).Select(k => (s, k))));
        foreach (var (scenario, kind) in runs)
        {
            if (kind == ServerKind.Reference && !ReferenceServer.IsInstalled)
            {
                Print(new JsonObject { ["scenario"] = scenario, ["server"] = Name(kind), ["skipped"] = "ws@8 is not installed; scripts/bench.sh (full run) installs it once" });
                continue;
            }

            var result = StateScenarios.Contains(scenario)
                ? await RunStateJoinOnFreshAsync(kind, scenario, settings)
                : await RunOnFreshAsync(kind, scenario, settings);
            Print(result);
            if (!IsSane(scenario, kind, result, settings))
            {
                Console.Error.WriteLine($"smoke: {scenario} on {Name(kind)} did not complete sanely");
                ok = false;
            }
        }

        return ok;
    }

    private static bool IsSane(string scenario, ServerKind kind, JsonObject result, BenchSettings settings) =>
        result["ok"]?.GetValue<bool>() == true && scenario switch
        {
            "fanout" or "fanout-v1" or "latency" => Positive(result, "deliveriesPerSec") && Positive(result, "p99Ms") && Positive(result, "latencySamples"),
            "connections" => Positive(result, "patchToAllMs") && result["kbPerConnection"] is not null,
            "replay" => Positive(result, "ingestPerSec") && Positive(result, "replayPerSec") && Positive(result, "firstFrameMs"),
            "join" => Positive(result, "patchesSent") && result["joinersComplete"].AsDouble() == settings.Joiners,
            "documents-1" or "documents-1-light" or "documents-100" => Positive(result, "ingestPerSec"),
            "cursors" => Positive(result, "deliveriesPerSec") && Positive(result, "p99Ms"),
            "api" => Positive(result, "publishPerSec") && Positive(result, "p99Ms") && Positive(result, "feedCatchUpPerSec"),
            "state-join" or "state-join-compacted" => Positive(result, "joinSeconds") &&
                (kind != ServerKind.Relay || (result["resumed"]?.GetValue<bool>() == true && result["resumeFrames"].AsDouble() <= 1000)),
            _ => false,
        };

    /// <summary>Fan-out and latency at each receiver count against every server; returns the points for the chart.</summary>
    public static async Task<(List<ChartPoint> Points, JsonArray Results)> ChartAsync(BenchSettings settings, IReadOnlyList<int> receiverCounts)
    {
        var points = new List<ChartPoint>();
        var results = new JsonArray();
        foreach (var receivers in receiverCounts)
        {
            foreach (var kind in AllServers)
            {
                var fanout = await RunOnFreshAsync(kind, "fanout", settings, receivers);
                Print(fanout);
                results.Add(fanout);
                var latency = await RunOnFreshAsync(kind, "latency", settings, receivers);
                Print(latency);
                results.Add(latency);
                if (fanout["ok"]?.GetValue<bool>() == true && latency["ok"]?.GetValue<bool>() == true)
                {
                    points.Add(new ChartPoint(Name(kind), receivers, fanout["deliveriesPerSec"].AsDouble() ?? 0, latency["p99Ms"].AsDouble() ?? 0));
                }
            }
        }

        return (points, results);
    }

    /// <summary>Writes one JSON line.</summary>
    public static void Print(JsonNode node) => Console.WriteLine(node.ToJsonString(Json));

    /// <summary>JSON as people read it: no escaping of &lt; and &gt;.</summary>
    public static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The same, indented, for result files.</summary>
    public static readonly JsonSerializerOptions IndentedJson = new(Json) { WriteIndented = true };

    /// <summary>The settings as JSON.</summary>
    public static JsonNode Describe(BenchSettings settings) => JsonSerializer.SerializeToNode(new
    {
        settings.Receivers,
        settings.Senders,
        settings.PatchBytes,
        settings.FanoutInFlight,
        settings.LatencyInFlight,
        WarmupSeconds = settings.Warmup.TotalSeconds,
        MeasureSeconds = settings.Measure.TotalSeconds,
        settings.Connections,
        settings.History,
        settings.ReplayInFlight,
        SettleSeconds = settings.Settle.TotalSeconds,
        settings.Joiners,
        JoinIntervalSeconds = settings.JoinInterval.TotalSeconds,
    })!;

    private static string Name(ServerKind kind) => kind switch
    {
        ServerKind.Relay => "relay",
        ServerKind.SignalR => "signalr",
        _ => "reference",
    };

    private static bool Positive(JsonObject result, string key) => result[key].AsDouble() > 0;
}
