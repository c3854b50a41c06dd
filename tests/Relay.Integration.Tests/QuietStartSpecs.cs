using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>A clean start of a single node prints no warnings: a warning must mean that something is wrong.</summary>
public sealed partial class QuietStartSpecs
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(12);
    private readonly ITestOutputHelper _output;

    public QuietStartSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_print_no_warnings_while_a_single_node_starts_serves_a_document_and_idles_for_12_seconds()
    {
        await using var node = RelayNode.Sqlite("quiet");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        // /readyz polled from the first moment, as a load balancer or an orchestrator does: not ready while starting
        // is expected, and must not print an error per poll.
        var pollsWhileStarting = 0;
        var readyz = Eventually.HoldsAsync(
            async () =>
            {
                try
                {
                    var ready = await ReadyAsync(http, node) == HttpStatusCode.OK;
                    pollsWhileStarting++;
                    return ready;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return false; // Not listening yet.
                }
            },
            TimeSpan.FromSeconds(120));
        await node.StartAsync();
        Assert.True(await readyz, "/readyz never answered 200");

        // A client opens a document of its own and leaves: its hub stops, its sequencer goes on with its
        // heartbeats on a topic nobody subscribes to (no dead letter is worth a line).
        await using (var client = await RelayClient.ConnectAsync(node.WebSocketUrlOf("quiet/doc")))
        {
            await client.SendTextAsync("a patch");
            Assert.True(await Eventually.HoldsAsync(async () => (await node.StatusAsync("quiet/doc")).GetProperty("lastSequence").GetInt64() == 1, TimeSpan.FromSeconds(10)));
            await client.CloseAsync();
        }

        Assert.True(await Eventually.HoldsAsync(async () => (await Scrape.TakeAsync(node)).Value("relay_documents_open") == 1, TimeSpan.FromSeconds(10)));

        // The node stays ready all along (the singleton proxy's false alarm came within 10 s of the start).
        var idle = Stopwatch.StartNew();
        while (idle.Elapsed < Idle)
        {
            Assert.Equal(HttpStatusCode.OK, await ReadyAsync(http, node));
            await Task.Delay(500);
        }

        // Reading the output is the point here: warnings, errors and worrying lines are what a start must not print.
        _output.WriteLine($"/readyz polled {pollsWhileStarting} times while starting");
        var lines = node.Output.Split('\n');
        var worrying = new List<string>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!Worrying().IsMatch(lines[i]))
            {
                continue;
            }

            // The simple console format puts the message on the line after "warn: Category".
            var line = lines[i];
            var message = line;
            if ((line.Contains("warn:", StringComparison.Ordinal) || line.Contains("fail:", StringComparison.Ordinal)) && i + 1 < lines.Length)
            {
                message = lines[++i];
            }

            // Akka reports a heartbeat tick that came late because the machine's CPUs were busy. That is real
            // starvation of the test machine (it shares two cores with parallel builds), not a false alarm of the
            // start, and it says nothing about Relay.
            if (message.Contains("Scheduled sending of heartbeat was delayed", StringComparison.Ordinal))
            {
                _output.WriteLine("ignored (CPU starvation): " + message);
                continue;
            }

            worrying.Add(line == message ? line : line + " " + message.Trim());
        }

        Assert.True(pollsWhileStarting > 0, "/readyz was never polled while the node started");
        Assert.True(worrying.Count == 0, "worrying lines on a clean start:\n" + string.Join('\n', worrying));
        Assert.Contains("/readyz: healthy now", node.Output, StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode> ReadyAsync(HttpClient http, RelayNode node)
    {
        using var response = await http.GetAsync(new Uri(node.HttpUrl, "/readyz"));
        return response.StatusCode;
    }

    // Warnings and errors in either log format, Akka's report of a node left to join by hand, and dead letters.
    [GeneratedRegex(@"\bwarn:|\bfail:|\bcrit:|\[WARNING\]|\[ERROR\]|\bWarning\b|No seed-nodes configured|dead letters encountered")]
    private static partial Regex Worrying();
}
