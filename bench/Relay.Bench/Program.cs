using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Relay.Bench;
using Relay.Bench.Scenarios;
using Relay.Testing;

// The bench's command line: one mode (--url, --vs, --smoke, --chart) and optional figures. See BENCHMARKS.md.
var options = ParseOptions(args);
if (options.ContainsKey("help") || args.Length == 0)
{
    Console.WriteLine(Usage());
    return args.Length == 0 ? 2 : 0;
}

var settings = new BenchSettings();
if (options.ContainsKey("smoke"))
{
    settings = BenchSettings.Smoke;
}

settings = settings with
{
    Receivers = Int("receivers", settings.Receivers),
    Senders = Int("senders", settings.Senders),
    PatchBytes = Int("patch-bytes", settings.PatchBytes),
    FanoutInFlight = Int("in-flight", settings.FanoutInFlight),
    LatencyInFlight = Int("latency-in-flight", settings.LatencyInFlight),
    Warmup = TimeSpan.FromSeconds(Double("warmup", settings.Warmup.TotalSeconds)),
    Measure = TimeSpan.FromSeconds(Double("measure", settings.Measure.TotalSeconds)),
    Connections = Int("connections", settings.Connections),
    History = Int("history", settings.History),
    ReplayInFlight = Int("replay-in-flight", settings.ReplayInFlight),
    Settle = TimeSpan.FromSeconds(Double("settle", settings.Settle.TotalSeconds)),
    Joiners = Int("joiners", settings.Joiners),
    JoinInterval = TimeSpan.FromSeconds(Double("join-interval", settings.JoinInterval.TotalSeconds)),
    StatePatches = Int("state-patches", settings.StatePatches),
    StateKeys = Int("state-keys", settings.StateKeys),
};
SignalRConnector.WireByDefault = (options.GetValueOrDefault("signalr-client") ?? "library") switch
{
    "library" => false,
    "wire" => true,
    var other => throw new ArgumentException($"unknown SignalR client '{other}'; use library or wire"),
};
var scenarios = options.TryGetValue("scenario", out var names) ? names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [.. Runner.AllScenarios, .. Runner.DocumentScenarios, .. Runner.StateScenarios];
var resultsFolder = options.GetValueOrDefault("results") ?? Path.Combine(RepoPaths.Root, "bench", "results");

if (options.ContainsKey("smoke"))
{
    var ok = await Runner.SmokeAsync(settings);
    Console.WriteLine(ok ? "smoke: all scenarios completed" : "smoke: FAILED");
    return ok ? 0 : 1;
}

if (options.ContainsKey("vs"))
{
    var report = await Runner.VersusAsync(settings, scenarios);
    Directory.CreateDirectory(resultsFolder);
    var path = Path.Combine(resultsFolder, "vs.json");
    await File.WriteAllTextAsync(path, report.ToJsonString(Runner.IndentedJson));
    Console.Error.WriteLine($"results written to {path}");
    return 0;
}

if (options.ContainsKey("chart"))
{
    var counts = (options.GetValueOrDefault("chart-receivers") ?? "10,50,200,1000").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
    var chartSettings = settings with
    {
        Warmup = TimeSpan.FromSeconds(Double("warmup", 2)),
        Measure = TimeSpan.FromSeconds(Double("measure", 5)),
    };
    var (points, results) = await Runner.ChartAsync(chartSettings, counts);
    Directory.CreateDirectory(resultsFolder);
    var png = Path.Combine(resultsFolder, "fanout.png");
    Chart.Save(points, counts, png);
    var data = new JsonObject
    {
        ["machine"] = Machine.Describe(),
        ["measuredAt"] = DateTime.UtcNow.ToString("u"),
        ["settings"] = Runner.Describe(chartSettings),
        ["results"] = results,
    };
    await File.WriteAllTextAsync(Path.Combine(resultsFolder, "fanout-chart.json"), data.ToJsonString(Runner.IndentedJson));
    Console.Error.WriteLine($"chart written to {png}");
    return 0;
}

if (options.TryGetValue("url", out var url))
{
    var target = new Uri(url);
    if (!target.IsLoopback)
    {
        Console.Error.WriteLine("the bench only drives servers on this machine (127.0.0.1, localhost, ::1)");
        return 2;
    }

    int? pid = options.TryGetValue("pid", out var p) ? int.Parse(p, CultureInfo.InvariantCulture) : null;
    IClientConnector connector = (options.GetValueOrDefault("protocol") ?? "websocket") switch
    {
        "websocket" => new WebSocketConnector(target),
        "signalr" => new SignalRConnector(target),
        var other => throw new ArgumentException($"unknown protocol '{other}'; use websocket or signalr"),
    };
    var failed = false;

    // The cluster scenarios start clusters of their own; against a given URL they do not apply.
    foreach (var scenario in scenarios.Where(s => !s.StartsWith("cluster-", StringComparison.Ordinal)))
    {
        var result = await Runner.RunAsync(scenario, connector, pid, settings, () => pid is { } id && !File.Exists($"/proc/{id}/status") ? "the server process exited" : null);
        result.Insert(1, "server", target.ToString());
        Runner.Print(result);
        failed |= result["ok"]?.GetValue<bool>() != true;
    }

    return failed ? 1 : 0;
}

Console.Error.WriteLine(Usage());
return 2;

int Int(string key, int fallback) => options.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

double Double(string key, double fallback) => options.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

static Dictionary<string, string> ParseOptions(string[] args)
{
    var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
    for (var i = 0; i < args.Length; i++)
    {
        if (!args[i].StartsWith("--", StringComparison.Ordinal))
        {
            throw new ArgumentException($"unexpected argument '{args[i]}'\n{Usage()}");
        }

        var key = args[i][2..];
        var eq = key.IndexOf('=', StringComparison.Ordinal);
        if (eq >= 0)
        {
            parsed[key[..eq]] = key[(eq + 1)..];
        }
        else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
        {
            parsed[key] = args[++i];
        }
        else
        {
            parsed[key] = "true";
        }
    }

    return parsed;
}

static string Usage() => """
    Relay.Bench: drives a WebSocket relay on this machine and prints one JSON line per scenario.

    Modes (one):
      --url ws://127.0.0.1:PORT/ [--pid PID]   run scenarios against a running server (fresh history expected;
         [--protocol websocket|signalr]        PID gives memory and CPU figures; signalr: the hub's http:// URL)
      --vs                                     each scenario against a fresh reference relay, a fresh SignalR relay
                                               and a fresh Relay, then the ratios; writes <results>/vs.json
      --smoke                                  each scenario, tiny, against each server, fresh; exit 0 if all completed
      --chart                                  fan-out and latency at 10, 50, 200, 1000 receivers on every server;
                                               writes <results>/fanout.png and fanout-chart.json

    Options:
      --scenario fanout,fanout-v1,latency,connections,replay,join,documents-1,api,cursors,documents-1-light,documents-100,cluster-singleton,cluster-sharded,state-join,state-join-compacted
                                               which scenarios (default all; fanout-v1 and from documents-1 on, Relay's own; api needs Relay:Api:Keys:0:Secret = bench-api-key-0123456789abcdef with --url)
      --receivers 50  --senders 2  --patch-bytes 128  --in-flight 200  --latency-in-flight 5
      --warmup 3  --measure 10 --settle 3 (seconds)  --connections 5000  --history 100000  --replay-in-flight 1000
      --signalr-client library|wire   the SignalR relay's clients: HubConnection (default) or a lean raw-WebSocket client
      --joiners 10  --join-interval 0.3 (seconds)  --chart-receivers 10,50,200,1000  --results bench/results
    """;
