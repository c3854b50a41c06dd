using System.Text.Json;
using System.Text.Json.Nodes;
using Relay.Bench.Scenarios;
using Relay.Bench.Servers;

namespace Relay.Bench;

/// <summary>Runs scenarios against a given URL, or against fresh servers it starts and kills itself.</summary>
public static class Runner
{
    /// <summary>The scenarios, in the order they run.</summary>
    public static readonly string[] AllScenarios = ["fanout", "latency", "connections", "replay"];

    /// <summary>Runs <paramref name="scenario"/> against <paramref name="url"/>, a server the bench did not start.</summary>
    public static Task<JsonObject> RunAsync(string scenario, Uri url, int? pid, BenchSettings settings, Func<string?> serverFailure, int? receivers = null) => scenario switch
    {
        "fanout" => FlowScenario.RunAsync("fanout", url, pid, settings, receivers ?? settings.Receivers, settings.FanoutInFlight, serverFailure),
        "latency" => FlowScenario.RunAsync("latency", url, pid, settings, receivers ?? settings.Receivers, settings.LatencyInFlight, serverFailure),
        "connections" => ConnectionsScenario.RunAsync(url, pid, settings, serverFailure),
        "replay" => ReplayScenario.RunAsync(url, pid, settings, serverFailure),
        _ => throw new ArgumentException($"unknown scenario '{scenario}'; use {string.Join(", ", AllScenarios)}"),
    };

    /// <summary>Starts a fresh <paramref name="kind"/> server, runs one scenario on it, kills it.</summary>
    public static async Task<JsonObject> RunOnFreshAsync(ServerKind kind, string scenario, BenchSettings settings, int? receivers = null)
    {
        var started = DateTime.UtcNow;
        var load = Machine.LoadAverage();
        IServerUnderTest server;
        try
        {
            server = kind == ServerKind.Relay ? await RelayServer.StartAsync() : await ReferenceServer.StartAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or System.ComponentModel.Win32Exception)
        {
            return new JsonObject { ["scenario"] = scenario, ["server"] = Name(kind), ["ok"] = false, ["error"] = "server did not start: " + ex.Message };
        }

        await using (server)
        {
            string? Failure() => server.IsRunning ? null : "the server process exited";
            var result = await RunAsync(scenario, server.Url, server.ProcessId, settings, Failure, receivers);
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

    /// <summary>Every scenario against the reference and against Relay, each on fresh servers; prints each line and the ratios.</summary>
    public static async Task<JsonObject> VersusAsync(BenchSettings settings, IReadOnlyList<string> scenarios)
    {
        var results = new JsonArray();
        foreach (var scenario in scenarios)
        {
            foreach (var kind in new[] { ServerKind.Reference, ServerKind.Relay })
            {
                var result = await RunOnFreshAsync(kind, scenario, settings);
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

    /// <summary>Relay over reference for each scenario's figure, and issue 5's targets.</summary>
    public static JsonObject Compare(JsonArray results)
    {
        double? Figure(string scenario, string server, string key) =>
            results.OfType<JsonObject>().FirstOrDefault(r => (string?)r["scenario"] == scenario && (string?)r["server"] == server && r["ok"]?.GetValue<bool>() == true)?[key].AsDouble();
        double? Ratio(string scenario, string key) =>
            Figure(scenario, "relay", key) is { } relay && Figure(scenario, "reference", key) is { } reference && reference != 0 ? Math.Round(relay / reference, 2) : null;
        JsonObject Target(string name, double? value, string rule, bool? met) => new() { ["target"] = name, ["value"] = value, ["rule"] = rule, ["met"] = met };

        var fanout = Ratio("fanout", "deliveriesPerSec");
        var p99 = Ratio("latency", "p99Ms");
        var kb = Figure("connections", "relay", "kbPerConnection");
        var replay = Ratio("replay", "replayPerSec");
        var ingest = Figure("replay", "relay", "ingestPerSec");
        return new JsonObject
        {
            ["scenario"] = "comparison",
            ["ratios"] = new JsonObject
            {
                ["fanoutDeliveries"] = fanout,
                ["latencyP50"] = Ratio("latency", "p50Ms"),
                ["latencyP99"] = p99,
                ["kbPerConnection"] = Ratio("connections", "kbPerConnection"),
                ["patchToAll"] = Ratio("connections", "patchToAllMs"),
                ["replay"] = replay,
                ["ingest"] = Ratio("replay", "ingestPerSec"),
            },
            ["targets"] = new JsonArray
            {
                Target("fan-out deliveries/s >= 1.5x reference", fanout, "ratio >= 1.5", fanout is { } f ? f >= 1.5 : null),
                Target("p99 under light load <= reference", p99, "ratio <= 1.0", p99 is { } l ? l <= 1.0 : null),
                Target("<= 16 KB per idle connection", kb, "KB <= 16", kb is { } k ? k <= 16 : null),
                Target("replay >= reference", replay, "ratio >= 1.0", replay is { } r ? r >= 1.0 : null),
                Target("durable ingest >= 30,000 patches/s", ingest, "patches/s >= 30000", ingest is { } i ? i >= 30_000 : null),
            },
        };
    }

    /// <summary>Each scenario, tiny, against a fresh Relay; true if all completed with sane figures.</summary>
    public static async Task<bool> SmokeAsync(BenchSettings settings)
    {
        var ok = true;
        foreach (var scenario in AllScenarios)
        {
            var result = await RunOnFreshAsync(ServerKind.Relay, scenario, settings);
            Print(result);
            var sane = result["ok"]?.GetValue<bool>() == true && scenario switch
            {
                "fanout" or "latency" => Positive(result, "deliveriesPerSec") && Positive(result, "p99Ms") && Positive(result, "latencySamples"),
                "connections" => Positive(result, "patchToAllMs") && result["kbPerConnection"] is not null,
                "replay" => Positive(result, "ingestPerSec") && Positive(result, "replayPerSec"),
                _ => false,
            };
            if (!sane)
            {
                Console.Error.WriteLine($"smoke: {scenario} did not complete sanely");
                ok = false;
            }
        }

        return ok;
    }

    /// <summary>Fan-out and latency at each receiver count against both servers; returns the points for the chart.</summary>
    public static async Task<(List<ChartPoint> Points, JsonArray Results)> ChartAsync(BenchSettings settings, IReadOnlyList<int> receiverCounts)
    {
        var points = new List<ChartPoint>();
        var results = new JsonArray();
        foreach (var receivers in receiverCounts)
        {
            foreach (var kind in new[] { ServerKind.Reference, ServerKind.Relay })
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
    })!;

    private static string Name(ServerKind kind) => kind == ServerKind.Relay ? "relay" : "reference";

    private static bool Positive(JsonObject result, string key) => result[key].AsDouble() > 0;
}
