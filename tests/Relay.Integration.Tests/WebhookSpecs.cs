using System.Diagnostics;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>
/// Webhooks (docs/api.md, "Webhooks") against a real node and a real receiver on loopback: every patch of the
/// prefix, signed, in each document's order, at least once; a receiver that is down for 20 s, across a restart of
/// the node, gets everything after, from the cursor the node journaled.
/// </summary>
public sealed class WebhookSpecs
{
    private const string Secret = "webhook-secret-0123456789abcdef";
    private const string ApiKey = "webhook-api-key-0123456789";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_deliver_every_patch_of_the_prefix_signed_in_order_after_the_receiver_was_down_for_20_seconds_across_a_restart()
    {
        await using var receiver = new WebhookReceiver(Secret);
        receiver.Start();
        var database = Path.Combine(Path.GetTempPath(), "relay-tests", $"webhooks-{Guid.NewGuid():N}.db");
        Directory.CreateDirectory(Path.GetDirectoryName(database)!);
        var settings = new Dictionary<string, string>
        {
            ["Relay:Webhooks:Url"] = receiver.Url,
            ["Relay:Webhooks:Secret"] = Secret,
            ["Relay:Webhooks:Prefix"] = "hooks/",
            ["Relay:Webhooks:MaxBatch"] = "4",
            ["Relay:Webhooks:MaxBackoffSeconds"] = "2",
            ["Relay:Api:Keys:0:Secret"] = ApiKey,
        };
        await using var node = RelayNode.Sqlite("webhooks", database, settings);
        await node.StartAsync();
        var written = new Dictionary<string, int> { ["hooks/a"] = 0, ["hooks/b/deep"] = 0 };

        async Task PublishAsync(string document, int count)
        {
            using var api = new RelayApiClient(node.HttpUrl, ApiKey);
            for (var i = 0; i < count; i++)
            {
                var seq = (await api.PublishAsync(document, $"[\"{document}\",{i}]")).Seq;
                if (written.ContainsKey(document))
                {
                    written[document] = (int)seq;
                }
            }
        }

        for (var round = 0; round < 5; round++)
        {
            await PublishAsync("hooks/a", 1);
            await PublishAsync("hooks/b/deep", 1);
            await PublishAsync("elsewhere/x", 1);
        }

        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Delivered(receiver).Count == 10), Patience), Describe(receiver, node));

        // The receiver goes away; patches go on, and the node restarts meanwhile: what was not taken stays owed.
        await receiver.StopAsync();
        var down = Stopwatch.StartNew();
        await PublishAsync("hooks/a", 5);
        await PublishAsync("hooks/b/deep", 5);
        Assert.True(await Eventually.HoldsAsync(async () => (await Scrape.TakeAsync(node)).Value("relay_webhook_failures_total") >= 1, Patience), Describe(receiver, node));
        await node.TerminateAsync();
        await node.StartAsync();
        await PublishAsync("hooks/a", 1);
        var stillDown = TimeSpan.FromSeconds(20) - down.Elapsed;
        if (stillDown > TimeSpan.Zero)
        {
            // The outage's length is the scenario, not a wait for a condition.
            await Task.Delay(stillDown);
        }

        receiver.Start();
        await PublishAsync("hooks/b/deep", 1);
        Assert.True(
            await Eventually.HoldsAsync(() => Task.FromResult(Delivered(receiver).Count == written.Values.Sum()), Patience),
            Describe(receiver, node));

        var delivered = Delivered(receiver);
        Assert.Equal(0, receiver.BadSignatures);
        Assert.DoesNotContain(receiver.Patches, patch => !patch.Document.StartsWith("hooks/", StringComparison.Ordinal));
        foreach (var (document, head) in written)
        {
            // In each document's order: the first time each seq arrives, they go 1, 2, 3 …, and nothing is missing.
            Assert.Equal(Enumerable.Range(1, head).Select(i => (long)i), delivered.Where(patch => patch.Document == document).Select(patch => patch.Seq));
        }

        // The restart went on from the journaled cursor: at most the batch in flight came twice, not the first ten.
        Assert.True(receiver.Patches.Count - delivered.Count <= 4, Describe(receiver, node));

        // Positions never go back except where a batch is sent again (at least once): the first arrivals go up.
        Assert.Equal(delivered.Select(patch => patch.Position).Order(), delivered.Select(patch => patch.Position));
    }

    // Every (document, seq) once, at its first arrival.
    private static List<WebhookPatch> Delivered(WebhookReceiver receiver) =>
        receiver.Patches.DistinctBy(patch => (patch.Document, patch.Seq)).ToList();

    private static string Describe(WebhookReceiver receiver, RelayNode node) =>
        $"delivered {string.Join(",", receiver.Patches.Select(patch => $"{patch.Document}#{patch.Seq}@{patch.Position}"))}\n{node.Output}";
}
