using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>
/// The URL's path names a document: each document its own clients, its own order and its own history, on the
/// shared node. Every test names its documents after a fresh run id, so earlier tests' documents never meet it.
/// </summary>
[Collection(SharedNodeCollection.Name)]
public sealed class DocumentSpecs
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly RelayNode _node;

    public DocumentSpecs(SharedNodeFixture fixture) => _node = fixture.Node;

    /// <summary>Request targets that name no document, sent raw: each gets 400 before any upgrade.</summary>
    public static TheoryData<string> BadTargets => new()
    {
        "//",
        "/a//b",
        "/a/",
        "/a/./b",
        "/a/../b",
        "/.",
        "/..",
        "/%2e%2e",
        "/a/%2E/b",
        "/a%2F%2Fb",
        "/a%20b",
        "/a@b",
        "/a%40b",
        "/caf%C3%A9",
        "/" + new string('n', 257),
        "/" + string.Join('/', Enumerable.Repeat(new string('s', 15), 16)) + "/x",
    };

    [Fact]
    public async Task Should_never_relay_a_patch_to_another_document_and_give_each_documents_peers_its_patches_in_order()
    {
        const int count = 25;
        var run = Guid.NewGuid().ToString("N")[..12];
        string[] documents = [$"gifts/{run}", $"notes/{run}"];
        var clients = new List<RelayClient>();
        try
        {
            // Per document: a sender and two peers.
            foreach (var document in documents)
            {
                for (var i = 0; i < 3; i++)
                {
                    clients.Add(await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document)));
                }
            }

            var expected = documents.Select(document => Enumerable.Range(1, count).Select(i => $"{document}:{i:D2}").ToList()).ToArray();
            // Both senders at once, so the two documents' patches are sequenced side by side.
            await Task.WhenAll(documents.Select((_, d) => Task.Run(async () =>
            {
                foreach (var patch in expected[d])
                {
                    await clients[3 * d].SendTextAsync(patch);
                }

                await clients[3 * d].SendTextAsync($"{documents[d]}:end");
            })));

            for (var d = 0; d < documents.Length; d++)
            {
                foreach (var peer in clients.Skip(3 * d + 1).Take(2))
                {
                    var seen = (await peer.ReadUntilTextAsync($"{documents[d]}:end")).Select(message => message.Text);
                    Assert.Equal(expected[d], seen);
                }
            }

            foreach (var client in clients)
            {
                Assert.Null(await client.ReceiveNothingAsync(TimeSpan.FromMilliseconds(200)));
            }

            // The history is per document too: a joiner gets its document's patches and nothing of the other's.
            for (var d = 0; d < documents.Length; d++)
            {
                await using var late = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(documents[d]));
                var history = (await late.ReceiveManyAsync(count + 1)).Select(message => message.Text);
                Assert.Equal(expected[d].Append($"{documents[d]}:end"), history);
                Assert.Null(await late.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
            }
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Theory]
    [MemberData(nameof(BadTargets))]
    public async Task Should_refuse_a_path_that_names_no_document_with_400_and_a_one_line_reason_before_the_upgrade(string target)
    {
        var upgrade = await RawHttp.GetAsync(_node, target, upgrade: true);
        var plain = await RawHttp.GetAsync(_node, target, upgrade: false);

        Assert.True(upgrade.Status == 400, $"upgrade to {target}: {upgrade.Status} {upgrade.Body}");
        Assert.True(plain.Status == 400, $"GET {target}: {plain.Status} {plain.Body}");
        var reason = upgrade.Body.TrimEnd('\n');
        Assert.False(string.IsNullOrWhiteSpace(reason), $"no reason for {target}");
        Assert.DoesNotContain('\n', reason);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    [InlineData("/HEALTHZ")]
    public async Task Should_refuse_an_upgrade_to_an_operations_endpoint_with_400_and_answer_it_as_plain_HTTP(string path)
    {
        var upgrade = await RawHttp.GetAsync(_node, path, upgrade: true);
        var plain = await RawHttp.GetAsync(_node, path, upgrade: false);

        Assert.True(upgrade.Status == 400, $"upgrade to {path}: {upgrade.Status} {upgrade.Body}");
        // Its own answer (readiness may say 503 on a busy machine), not a document's status or refusal.
        Assert.True(plain.Status is 200 or 503, $"GET {path}: {plain.Status} {plain.Body}");
        Assert.DoesNotContain("\"document\"", plain.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, await RawHttp.UpgradeStatusAsync(new Uri(_node.WebSocketUrl, path)));
    }

    [Fact]
    public async Task Should_open_documents_whose_names_use_every_allowed_character_up_to_256_of_them()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        // 256 characters: the longest name, whose persistence id no longer fits the journal's column as it is.
        var longest = run + "/" + new string('x', 256 - run.Length - 1);
        string[] documents = [longest, $"A-Z_a.z~0-9/{run}/..x/.y", $"{run}%2Fencoded"];
        string[] decoded = [longest, $"A-Z_a.z~0-9/{run}/..x/.y", $"{run}/encoded"];
        Assert.Equal(256, longest.Length);
        for (var d = 0; d < documents.Length; d++)
        {
            await using var sender = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(documents[d]));
            await sender.SendTextAsync($"in {decoded[d]}");
            // A joiner by the decoded name reads the same document.
            await using var late = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(decoded[d]));
            Assert.Equal($"in {decoded[d]}", (await late.ReceiveAsync()).Text);
            var status = await Http.GetFromJsonAsync<JsonElement>(_node.HttpUrlOf(decoded[d]));
            Assert.Equal(decoded[d], status.GetProperty("document").GetString());
            Assert.Equal(1, status.GetProperty("lastSequence").GetInt64());
        }
    }

    [Fact]
    public async Task Should_answer_GET_of_a_document_with_its_status_and_GET_of_the_root_with_the_nodes_documents()
    {
        var document = $"status/{Guid.NewGuid():N}";
        await using var client = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        await using var peer = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        await client.SendTextAsync("one");
        await client.SendTextAsync("two");
        await peer.ReceiveManyAsync(2);

        var status = await Http.GetFromJsonAsync<JsonElement>(_node.HttpUrlOf(document));
        var root = await Http.GetFromJsonAsync<JsonElement>(_node.HttpUrl);

        Assert.Equal("relay", status.GetProperty("service").GetString());
        Assert.Equal(document, status.GetProperty("document").GetString());
        Assert.Equal($"ws://127.0.0.1:{_node.HttpPort}/{document}", status.GetProperty("websocket").GetString());
        Assert.Equal(2, status.GetProperty("lastSequence").GetInt64());
        Assert.Equal(string.Empty, root.GetProperty("document").GetString());
        Assert.True(root.GetProperty("openDocuments").GetInt32() >= 2, root.ToString());
        var sequencers = root.GetProperty("sequencers").EnumerateArray().Select(name => name.GetString()).ToList();
        Assert.Contains(string.Empty, sequencers);
        Assert.Contains(document, sequencers);
    }

    [Fact]
    public async Task Should_relay_100_documents_each_to_its_own_watcher_in_order_and_give_late_joiners_their_full_history()
    {
        const int documentCount = 100;
        const int perDocument = 10;
        var run = Guid.NewGuid().ToString("N")[..8];
        var documents = Enumerable.Range(0, documentCount).Select(i => $"many/{run}/{i:D3}").ToList();
        var expected = documents.Select(document => Enumerable.Range(1, perDocument).Select(i => $"{document}:{i:D2}").ToList()).ToList();
        var senders = new RelayClient[documentCount];
        var watchers = new RelayClient[documentCount];
        try
        {
            // Ten documents at a time: upgrades, hubs and sequencers start side by side.
            foreach (var batch in Enumerable.Range(0, documentCount).Chunk(10))
            {
                await Task.WhenAll(batch.Select(async i =>
                {
                    watchers[i] = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(documents[i]));
                    senders[i] = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(documents[i]));
                }));
            }

            await Task.WhenAll(Enumerable.Range(0, documentCount).Select(i => Task.Run(async () =>
            {
                foreach (var patch in expected[i])
                {
                    await senders[i].SendTextAsync(patch);
                }
            })));

            var received = await Task.WhenAll(watchers.Select(watcher => watcher.ReceiveManyAsync(perDocument, TimeSpan.FromSeconds(60))));
            var strays = await Task.WhenAll(watchers.Concat(senders).Select(client => client.ReceiveNothingAsync(TimeSpan.FromMilliseconds(500))));
            for (var i = 0; i < documentCount; i++)
            {
                Assert.Equal(expected[i], received[i].Select(message => message.Text));
            }

            Assert.All(strays, stray => Assert.Null(stray));

            foreach (var i in new[] { 0, 37, 99 })
            {
                await using var late = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(documents[i]));
                Assert.Equal(expected[i], (await late.ReceiveManyAsync(perDocument)).Select(message => message.Text));
                Assert.Null(await late.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
            }

            var lastSequences = await Task.WhenAll(documents.Select(async document =>
                (await Http.GetFromJsonAsync<JsonElement>(_node.HttpUrlOf(document))).GetProperty("lastSequence").GetInt64()));
            Assert.All(lastSequences, last => Assert.Equal(perDocument, last));
        }
        finally
        {
            await senders.Concat(watchers).Where(client => client is not null).DisposeAllAsync();
        }
    }
}
