using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Relay.Testing;

namespace Relay.Bench.Scenarios;

/// <summary>
/// The server API (issue 22), Relay only: <see cref="Backends"/> backends publish to one document over HTTP, each
/// one request at a time (a publish is answered once journaled), as <c>client</c>+<c>id</c> (docs/api.md's advice for
/// high-rate writers). Figures: publishes/s, their latency p50/p99/max, and the document's change feed (SSE) read
/// meanwhile by one consumer, live; then a second consumer reads the whole feed from the start (catch-up).
/// </summary>
public static class ApiScenario
{
    /// <summary>Concurrent backends.</summary>
    public const int Backends = 16;

    /// <summary>The key the scenario's Relay is started with.</summary>
    public const string Key = "bench-api-key-0123456789abcdef";

    private const string Document = "bench/api";

    /// <summary>The settings the scenario's Relay needs.</summary>
    public static IReadOnlyDictionary<string, string> RelaySettings { get; } = new Dictionary<string, string> { ["Relay:Api:Keys:0:Secret"] = Key };

    /// <summary>Runs the scenario on the node whose WebSocket URL is <paramref name="socketUrl"/>.</summary>
    public static async Task<JsonObject> RunAsync(Uri socketUrl, int? pid, BenchSettings settings, Func<string?> serverFailure)
    {
        var result = new JsonObject { ["scenario"] = "api", ["backends"] = Backends, ["patchBytes"] = settings.PatchBytes };
        var http = new Uri($"http://{socketUrl.Authority}/");
        var latency = new LatencyRecorder();
        long published = 0;
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, Backends).Select(_ => Client(http)).ToList();
        var live = new FeedReader(Client(http));
        var loops = new List<Task>();
        try
        {
            await live.OpenAsync(stop.Token);
            loops.AddRange(clients.Select((client, n) => Task.Run(() => PublishLoopAsync(client, n, settings.PatchBytes, latency, () => Interlocked.Increment(ref published), stop.Token))));
            using var settle = new CancellationTokenSource();
            var reading = Task.Run(() => live.ReadAsync(settle.Token));
            string? Failure() => serverFailure() ?? loops.FirstOrDefault(t => t.IsFaulted)?.Exception?.GetBaseException().Message ?? (reading.IsFaulted ? reading.Exception!.GetBaseException().Message : null);
            if (await Waiting.WarmUpAsync(settings.Warmup, () => Interlocked.Read(ref published), settings.StallTimeout, Failure) is { } warmupError)
            {
                return FlowScenario.Failed(result, "warm-up: " + warmupError);
            }

            var published0 = Interlocked.Read(ref published);
            var fed0 = live.Count;
            var cpu0 = pid is { } p0 ? ProcStats.CpuSeconds(p0) : 0;
            latency.Recording = true;
            var window = Stopwatch.StartNew();
            var measureError = await Waiting.ForAsync(settings.Measure, () => Interlocked.Read(ref published), settings.StallTimeout, Failure);
            latency.Recording = false;
            var seconds = window.Elapsed.TotalSeconds;
            var fedInWindow = live.Count - fed0;
            if (measureError is not null)
            {
                return FlowScenario.Failed(result, "measuring: " + measureError);
            }

            result["seconds"] = Math.Round(seconds, 2);
            result["publishPerSec"] = Math.Round((Interlocked.Read(ref published) - published0) / seconds);
            result["p50Ms"] = Math.Round(latency.Milliseconds(50), 2);
            result["p99Ms"] = Math.Round(latency.Milliseconds(99), 2);
            result["maxMs"] = Math.Round(latency.MaxMilliseconds, 2);
            result["latencySamples"] = latency.Count;
            result["liveFeedPerSec"] = Math.Round(fedInWindow / seconds);
            if (pid is { } p1)
            {
                result["serverCpuPercent"] = Math.Round(100 * (ProcStats.CpuSeconds(p1) - cpu0) / seconds);
                result["serverRssKb"] = ProcStats.ResidentKb(p1);
            }

            // The publishers stop; the live consumer must end with every patch, once and in order.
            await stop.CancelAsync();
            await Task.WhenAll(loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            var head = Interlocked.Read(ref published);
            live.Target = head;
            settle.CancelAfter(settings.PhaseTimeout);
            await reading;

            // A second consumer reads the whole feed from the start.
            using var catchUp = new FeedReader(Client(http));
            var started = Stopwatch.StartNew();
            catchUp.Target = head;
            await catchUp.OpenAsync(settle.Token);
            await catchUp.ReadAsync(settle.Token);
            result["feedCatchUpPatches"] = head;
            result["feedCatchUpPerSec"] = Math.Round(head / started.Elapsed.TotalSeconds);
            result["feedInOrder"] = live.InOrder && catchUp.InOrder;
            result["ok"] = live.InOrder && catchUp.InOrder && live.Count == head && catchUp.Count == head && (double)result["publishPerSec"]! > 0;
            if (!(bool)result["ok"]!)
            {
                result["error"] = $"feed: live {live.Count}, catch-up {catchUp.Count} of {head}, in order {live.InOrder && catchUp.InOrder}";
            }

            return result;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return FlowScenario.Failed(result, ex.Message);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var client in clients)
            {
                client.Dispose();
            }

            live.Dispose();
        }
    }

    private static HttpClient Client(Uri http)
    {
        var client = new HttpClient { BaseAddress = http, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return client;
    }

    // One backend: a publish at a time, each journaled before the next; every answer checked.
    private static async Task PublishLoopAsync(HttpClient client, int backend, int patchBytes, LatencyRecorder latency, Action journaled, CancellationToken stop)
    {
        var body = "[\"" + new string('x', Math.Max(1, patchBytes - 4)) + "\"]";
        for (long id = 1; !stop.IsCancellationRequested; id++)
        {
            var sent = Stopwatch.GetTimestamp();
            using var content = new StringContent(body, Encoding.UTF8, "application/json");

            // Not cancelled once sent: a publish the server took is journaled whether or not its answer is awaited,
            // and the feed checks count every journaled patch, so every sent publish is waited for and counted.
            using (var response = await client.PostAsync($"api/v1/documents/{Document}/patches?client=backend{backend}&id={id}", content, CancellationToken.None))
            {
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"backend {backend}: publish {id} answered {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(CancellationToken.None)}");
                }
            }

            latency.Record(sent);
            journaled();
        }
    }

    /// <summary>A consumer of the document's change feed: counts its patch events and checks their seqs go up by one.</summary>
    private sealed class FeedReader(HttpClient client) : IDisposable
    {
        private StreamReader? _reader;
        private HttpResponseMessage? _response;
        private long _count;
        private long _target = long.MaxValue;

        public long Count => Interlocked.Read(ref _count);

        public bool InOrder { get; private set; } = true;

        /// <summary>How many patches to read before <see cref="ReadAsync"/> returns: set once the publishers stopped.</summary>
        public long Target
        {
            get => Interlocked.Read(ref _target);
            set => Interlocked.Exchange(ref _target, value);
        }

        public async Task OpenAsync(CancellationToken cancellation)
        {
            _response = await client.GetAsync($"api/v1/documents/{Document}/changes", HttpCompletionOption.ResponseHeadersRead, cancellation);
            _response.EnsureSuccessStatusCode();
            _reader = new StreamReader(await _response.Content.ReadAsStreamAsync(cancellation));
        }

        // Reads until Target patches are in (or cancellation); the ids are the seqs.
        public async Task ReadAsync(CancellationToken cancellation)
        {
            try
            {
                while (Count < Target && await _reader!.ReadLineAsync(cancellation) is { } line)
                {
                    if (line.StartsWith("id: ", StringComparison.Ordinal))
                    {
                        var seq = long.Parse(line.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture);
                        InOrder &= seq == Count + 1;
                        Interlocked.Increment(ref _count);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
            }
        }

        public void Dispose()
        {
            _reader?.Dispose();
            _response?.Dispose();
            client.Dispose();
        }
    }
}
