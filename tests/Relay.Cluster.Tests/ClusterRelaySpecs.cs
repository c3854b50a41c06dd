using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// The relay's promises across nodes of one running three-node cluster: clients on different nodes, one
/// total order, no echo, late joiners, large patches, a node joining, many documents. Each spec runs with both
/// <c>Relay:Documents:Placement</c>s; the specs of one placement share its cluster and journal, so each one reads
/// the history's length first and only looks at its own patches.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterRelaySpecs : IClassFixture<ThreeNodeCluster>
{
    private readonly ThreeNodeCluster _fixture;
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;
    private RelayCluster _cluster = null!;

    /// <summary>Creates the specs on the shared cluster.</summary>
    public ClusterRelaySpecs(ThreeNodeCluster fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _postgres = fixture.Postgres;
        _output = output;
    }

    /// <summary>Where the documents' sequencers run.</summary>
    public static TheoryData<string> Placements => new() { "singleton", "sharded" };

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_run_the_default_documents_sequencer_on_exactly_one_node_the_oldest_when_singleton(string placement)
    {
        await UseClusterAsync(placement);

        var host = await _cluster.SingleHistoryHostAsync();

        if (placement == "singleton")
        {
            Assert.Same(_cluster[0], host);
        }

        _output.WriteLine($"{placement}: the default document's sequencer runs on {host.Name}");
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_relay_across_nodes_in_one_total_order_without_echo(string placement)
    {
        await UseClusterAsync(placement);
        const int perClient = 40;
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        var clients = await Task.WhenAll(_cluster.Nodes.Select(node => RelayClient.ConnectAsync(node.WebSocketUrl)));
        try
        {
            var histories = await Task.WhenAll(clients.Select(client => client.ReceiveManyAsync((int)before)));

            // Every client sends at once, so the sequencer interleaves three nodes' patches.
            await Task.WhenAll(clients.Select((client, c) => Task.Run(async () =>
            {
                for (var i = 0; i < perClient; i++)
                {
                    await client.SendTextAsync($"order-{c}:{i}");
                }
            })));
            var received = await Task.WhenAll(clients.Select(client => client.ReceiveManyAsync(2 * perClient)));
            var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
            var order = (await Probe.ReadHistoryAsync(_cluster[1], total)).Skip((int)before).ToList();

            Assert.Equal(before + 3 * perClient, total);
            for (var c = 0; c < clients.Length; c++)
            {
                var texts = received[c].Select(message => message.Text).ToList();
                Assert.DoesNotContain(texts, text => text.StartsWith($"order-{c}:", StringComparison.Ordinal));
                Assert.Equal(order.Where(text => !text.StartsWith($"order-{c}:", StringComparison.Ordinal)), texts);
                Assert.Null(await clients[c].ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
            }

            for (var c = 0; c < clients.Length; c++)
            {
                Assert.Equal(Enumerable.Range(0, perClient).Select(i => $"order-{c}:{i}"), Probe.Tagged(order, $"order-{c}"));
            }

            _output.WriteLine($"{3 * perClient} patches from three nodes, one order on every node; history before: {histories[0].Count}");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_give_a_late_joiner_on_another_node_the_full_history_then_live_patches(string placement)
    {
        await UseClusterAsync(placement);
        await using var sender = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        _ = await sender.ReceiveManyAsync((int)before);
        await using var watcher = await RelayClient.ConnectAsync(_cluster[1].WebSocketUrl);
        for (var i = 0; i < 30; i++)
        {
            await sender.SendTextAsync($"late:{i}");
        }

        // Settling means nothing is in flight: once a watcher has them all, they are all sequenced.
        await watcher.ReceiveManyAsync((int)before + 30, TimeSpan.FromSeconds(30));
        var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        await using var late = await RelayClient.ConnectAsync(_cluster[2].WebSocketUrl);
        var history = (await late.ReceiveManyAsync((int)total)).Select(message => message.Text).ToList();
        await sender.SendTextAsync("late:live");
        var live = await late.ReceiveAsync();

        Assert.Equal(before + 30, total);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"late:{i}"), history.Skip((int)before));
        Assert.Equal("late:live", live.Text);
        Assert.Null(await late.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_resume_a_relay_v1_client_on_another_node_after_its_last_sequence_number_without_doubling_its_resends(string placement)
    {
        await UseClusterAsync(placement);
        var document = $"resume-{placement}";
        var url = (RelayNode node, string query) => new Uri($"{node.WebSocketUrlOf(document)}?{query}");
        await using var other = await RelayV1Client.ConnectAsync(url(_cluster[2], "client=other"));
        string epoch;
        long held;
        await using (var phone = await RelayV1Client.ConnectAsync(url(_cluster[0], "client=phone")))
        {
            epoch = phone.Epoch;
            await phone.SendTextAsync(1, "p1");
            held = (await phone.ReceiveAsync(TimeSpan.FromSeconds(20))).Seq;
            // Patch 2 goes out, and the connection drops before its ack is read.
            await phone.SendTextAsync(2, "p2");
            await other.SendTextAsync(1, "o1");
            await other.ReceiveManyAsync(2, TimeSpan.FromSeconds(20));
        }

        await using var resumed = await RelayV1Client.ConnectAsync(url(_cluster[1], $"client=phone&after={held}&epoch={epoch}"));
        await resumed.SendTextAsync(2, "p2");
        var frames = await resumed.ReceiveManyAsync(2, TimeSpan.FromSeconds(20));
        await other.SendTextAsync(2, "o2");
        var live = await resumed.ReceiveAsync(TimeSpan.FromSeconds(20));

        Assert.True(resumed.Resumed, $"hello: {resumed.Hello.Header}");
        Assert.Equal(epoch, resumed.Epoch);
        // Everything after the held number, each once, in order: p2's ack and o1, in whichever order they were sequenced.
        Assert.Equal([held + 1, held + 2, held + 3], frames.Select(f => f.Seq).Append(live.Seq));
        Assert.Equal(["ack:2", "patch:o1"], frames.Select(f => f.Type == "ack" ? $"ack:{f.Header.GetProperty("id").GetInt64()}" : $"patch:{f.Text}").Order());
        Assert.Equal("o2", live.Text);
        Assert.Equal(held + 3, await Probe.LastSequenceAsync(_cluster[2], document));
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_join_a_document_compacted_on_one_node_from_its_snapshot_on_the_others(string placement)
    {
        await UseClusterAsync(placement);
        var document = $"compacted-{placement}";
        await using var writer = await RelayV1Client.ConnectAsync(new Uri($"{_cluster[0].WebSocketUrlOf(document)}?client=writer"));
        string Patch(long i) => $"[{{\"op\":\"replace\",\"path\":[\"k{i % 10}\"],\"value\":{{\"i\":{i},\"text\":\"{new string('x', 500)}\"}}}}]";

        // Write until the sequencer names a snapshot, then a few more.
        long written = 0, snapshot = 0;
        while (snapshot == 0 && written < 400)
        {
            for (var end = written + 10; written < end;)
            {
                await writer.SendTextAsync(++written, Patch(written));
            }

            Assert.Equal(written, (await writer.ReceiveManyAsync(10, TimeSpan.FromSeconds(20)))[^1].Seq);
            snapshot = (await _cluster[1].StatusAsync(document)).GetProperty("snapshot").GetInt64();
        }

        for (var end = written + 3; written < end;)
        {
            await writer.SendTextAsync(++written, Patch(written));
        }

        await writer.ReceiveManyAsync(3, TimeSpan.FromSeconds(20));

        // On each other node: the snapshot's state as one root replacement numbered S, then S+1..head, byte for byte.
        foreach (var node in _cluster.Nodes.Skip(1))
        {
            var joined = await Probe.EventuallyAsync(async () =>
            {
                await using var probe = await RelayV1Client.ConnectAsync(node.WebSocketUrlOf(document));
                return (await probe.ReceiveAsync(TimeSpan.FromSeconds(20))).Seq > 1;
            }, TimeSpan.FromSeconds(20));
            Assert.True(joined, $"joiners on {node.Name} never started from a snapshot");
            await using var joiner = await RelayV1Client.ConnectAsync(node.WebSocketUrlOf(document));
            var first = await joiner.ReceiveAsync(TimeSpan.FromSeconds(20));
            var tail = await joiner.ReceiveManyAsync((int)(written - first.Seq), TimeSpan.FromSeconds(20));
            var replace = System.Text.Json.Nodes.JsonNode.Parse(first.Text)!.AsArray();
            var state = replace[0]!["value"]!.AsObject();

            Assert.Equal("replace", replace[0]!["op"]!.GetValue<string>());
            Assert.Empty(replace[0]!["path"]!.AsArray());
            Assert.Equal(
                Enumerable.Range(0, 10).Select(k => first.Seq - ((first.Seq - k) % 10 + 10) % 10).Order(),
                state.Select(member => member.Value!["i"]!.GetValue<long>()).Order());
            Assert.Equal(Enumerable.Range((int)first.Seq + 1, tail.Count).Select(i => Patch(i)), tail.Select(f => f.Text));
            Assert.Equal(written, tail[^1].Seq);
        }
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_carry_a_patch_of_the_maximum_size_across_nodes(string placement)
    {
        await UseClusterAsync(placement);
        var patch = RandomNumberGenerator.GetBytes(1024 * 1024);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        await using var sender = await RelayClient.ConnectAsync(_cluster[1].WebSocketUrl);
        await using var receiver = await RelayClient.ConnectAsync(_cluster[2].WebSocketUrl);
        _ = await sender.ReceiveManyAsync((int)before);
        _ = await receiver.ReceiveManyAsync((int)before);

        await sender.SendBinaryAsync(patch);
        var live = await receiver.ReceiveAsync(TimeSpan.FromSeconds(20));
        await using var late = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var history = await late.ReceiveManyAsync((int)before + 1, TimeSpan.FromSeconds(30));

        Assert.False(live.IsText);
        Assert.Equal(patch, live.Payload);
        Assert.False(history[^1].IsText);
        Assert.Equal(patch, history[^1].Payload);
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_serve_a_node_that_joins_while_patches_flow_from_its_first_upgrade(string placement)
    {
        await UseClusterAsync(placement);
        await using var sender = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        _ = await sender.ReceiveManyAsync((int)before);
        await using var node4 = RelayNode.Postgres("node4", _cluster.ConnectionString, _cluster.SeedNodes);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var sentAt = new ConcurrentDictionary<string, TimeSpan>();
        var sending = Probe.SendSteadilyAsync(sender, "join", TimeSpan.FromMilliseconds(50), 1200, stop.Token, sentAt, Stopwatch.StartNew());

        await node4.StartAsync();
        await using var joined = await RelayClient.ConnectAsync(node4.WebSocketUrl);
        // Patches keep flowing after the upgrade: the new node's client receives more than had been sent before it.
        var sentBeforeUpgrade = sentAt.Count;
        var flowed = await Probe.EventuallyAsync(() => joined.Pending > before + sentBeforeUpgrade, TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        var sent = await sending;
        var history = await joined.ReceiveManyAsync((int)before + sent.Count, TimeSpan.FromSeconds(30));
        var hosts = new List<string>();
        foreach (var node in _cluster.Nodes.Append(node4))
        {
            if ((await node.SequencersAsync()).Contains(string.Empty))
            {
                hosts.Add(node.Name);
            }
        }

        var (exitCode, _) = await node4.TerminateAsync();

        Assert.True(flowed, "no patch sent after node4's client connected reached it within 30 s");
        Assert.Equal(sent, Probe.Tagged(history.Select(message => message.Text), "join"));
        Assert.Null(await joined.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
        // The singleton stays on the oldest node; a shard may move to the new node, but never runs twice.
        Assert.Equal(placement == "singleton" ? [_cluster[0].Name] : hosts.Take(1), hosts);
        Assert.Single(hosts);
        Assert.Equal(0, exitCode);
        _output.WriteLine($"{placement}: node4 joined while {sent.Count} patches were sent; the default document's sequencer on [{string.Join(", ", hosts)}]; journal on {_postgres.Port}");
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_run_each_of_30_documents_sequencers_on_exactly_one_node_and_relay_each_across_nodes(string placement)
    {
        await UseClusterAsync(placement);
        const int documents = 30;
        var names = Enumerable.Range(0, documents).Select(i => $"spread/{placement}-{i:D2}").ToList();
        var watchers = new List<RelayClient>();
        var senders = new List<RelayClient>();
        try
        {
            for (var i = 0; i < documents; i++)
            {
                // The watcher of each document is on another node than its sender.
                watchers.Add(await RelayClient.ConnectAsync(_cluster[(i + 1) % 3].WebSocketUrlOf(names[i])));
                senders.Add(await RelayClient.ConnectAsync(_cluster[i % 3].WebSocketUrlOf(names[i])));
            }

            await Task.WhenAll(senders.Select((sender, i) => sender.SendTextAsync($"{names[i]}:1")));
            var received = await Task.WhenAll(watchers.Select(watcher => watcher.ReceiveAsync(TimeSpan.FromSeconds(30))));

            // Where each document's sequencer runs, as the nodes say, once every document has exactly one.
            Dictionary<string, List<string>> hostsOf = [];
            var settled = await Probe.EventuallyAsync(async () =>
            {
                var sequencers = await Task.WhenAll(_cluster.Nodes.Select(node => node.SequencersAsync()));
                hostsOf = names.ToDictionary(
                    name => name,
                    name => _cluster.Nodes.Where((_, n) => sequencers[n].Contains(name)).Select(node => node.Name).ToList());
                return hostsOf.Values.All(hosts => hosts.Count == 1);
            }, TimeSpan.FromSeconds(20));
            var hostingNodes = hostsOf.Values.SelectMany(hosts => hosts).Distinct().Order().ToList();
            _output.WriteLine($"{placement}: {documents} documents' sequencers on [{string.Join(", ", hostingNodes.Select(node => $"{node}: {hostsOf.Values.Count(hosts => hosts.Contains(node))}"))}]");

            Assert.Equal(names.Select(name => $"{name}:1"), received.Select(message => message.Text));
            Assert.True(settled, "documents without exactly one sequencer: " + string.Join(", ", hostsOf.Where(entry => entry.Value.Count != 1).Select(entry => $"{entry.Key} on [{string.Join(", ", entry.Value)}]")));
            if (placement == "sharded")
            {
                Assert.True(hostingNodes.Count >= 2, $"every sequencer on {string.Join(", ", hostingNodes)}");
            }
            else
            {
                Assert.Equal([_cluster[0].Name], hostingNodes);
            }

            foreach (var name in names)
            {
                Assert.Equal(1, await Probe.LastSequenceAsync(_cluster[2], name));
            }
        }
        finally
        {
            await Task.WhenAll(watchers.Concat(senders).Select(client => client.DisposeAsync().AsTask()));
        }
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_publish_through_one_nodes_api_and_feed_every_patch_once_in_order_from_another(string placement)
    {
        await UseClusterAsync(placement);
        var document = $"api/{placement}-{Guid.NewGuid():N}";
        using var writer = new RelayApiClient(_cluster[0].HttpUrl, ThreeNodeCluster.ApiKey);
        using var rival = new RelayApiClient(_cluster[1].HttpUrl, ThreeNodeCluster.ApiKey);
        using var follower = new RelayApiClient(_cluster[2].HttpUrl, ThreeNodeCluster.ApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, RelayApiClient.PathOf(document, "/changes"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ThreeNodeCluster.ApiKey);
        await using var feed = await ServerSentEvents.OpenAsync(follower.Http, request);
        Assert.Equal("hello", (await feed.NextAsync(TimeSpan.FromSeconds(30)))!.Type);

        // Two backends on two nodes race with the same If-Match each round: one wins, and the feed has each winner once.
        for (var round = 1; round <= 10; round++)
        {
            var patch = Round(round);
            var head = (round - 1).ToString(CultureInfo.InvariantCulture);
            var answers = await Task.WhenAll(
                writer.PublishAsync(document, patch, h => h.TryAddWithoutValidation("If-Match", head)),
                rival.PublishAsync(document, patch, h => h.TryAddWithoutValidation("If-Match", head)));
            Assert.Equal([HttpStatusCode.OK, HttpStatusCode.PreconditionFailed], answers.Select(a => a.Status).Order());
            Assert.Equal(round, answers.Single(a => a.Status == HttpStatusCode.OK).Seq);
        }

        var fed = new List<(long, string?)>();
        while (fed.Count < 10)
        {
            var patch = (await feed.NextAsync(TimeSpan.FromSeconds(30)))!;
            Assert.Equal("patch", patch.Type);
            fed.Add((long.Parse(patch.Id!, CultureInfo.InvariantCulture), patch.Json.GetProperty("text").GetString()));
        }

        Assert.Equal(Enumerable.Range(1, 10).Select(r => ((long)r, (string?)Round(r))), fed);
        _output.WriteLine($"{placement}: 10 rounds of racing publishes on two nodes, fed in order on a third");

        static string Round(int round) => "[{\"op\":\"add\",\"path\":[\"r" + round + "\"],\"value\":" + round + "}]";
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_feed_a_prefix_of_documents_written_at_once_through_three_nodes_each_patch_once_in_its_documents_order(string placement)
    {
        // Three backends write three documents at once, each through another node (with sharding, their sequencers
        // may be on three nodes): PostgreSQL numbers the rows of concurrent transactions in an order they may commit
        // out of, which the journal's query waits out. A fourth reader follows the prefix on one node.
        const int PerDocument = 25;
        await UseClusterAsync(placement);
        var prefix = $"api/prefix-{placement}-{Guid.NewGuid():N}/";
        using var follower = new RelayApiClient(_cluster[2].HttpUrl, ThreeNodeCluster.ApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/changes?prefix=" + Uri.EscapeDataString(prefix));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ThreeNodeCluster.ApiKey);
        await using var feed = await ServerSentEvents.OpenAsync(follower.Http, request);
        Assert.Equal("hello", (await feed.NextAsync(TimeSpan.FromSeconds(30)))!.Type);

        await Task.WhenAll(Enumerable.Range(0, 3).Select(n => Task.Run(async () =>
        {
            using var writer = new RelayApiClient(_cluster[n].HttpUrl, ThreeNodeCluster.ApiKey);
            for (var i = 1; i <= PerDocument; i++)
            {
                Assert.Equal(i, (await writer.PublishAsync(prefix + "d" + n, $"[{n},{i}]")).Seq);
            }
        })));

        var fed = new List<(long Position, string Document, long Seq, string? Text)>();
        while (fed.Count < 3 * PerDocument)
        {
            var patch = (await feed.NextAsync(TimeSpan.FromSeconds(30)))!;
            Assert.Equal("patch", patch.Type);
            var json = patch.Json;
            fed.Add((long.Parse(patch.Id!, CultureInfo.InvariantCulture), json.GetProperty("document").GetString()!, json.GetProperty("seq").GetInt64(), json.GetProperty("text").GetString()));
        }

        Assert.Equal(fed.Select(e => e.Position).Order(), fed.Select(e => e.Position));
        for (var n = 0; n < 3; n++)
        {
            var of = fed.Where(e => e.Document == prefix + "d" + n).ToList();
            Assert.Equal(Enumerable.Range(1, PerDocument).Select(i => (long)i), of.Select(e => e.Seq));
            Assert.Equal(Enumerable.Range(1, PerDocument).Select(i => $"[{n},{i}]"), of.Select(e => e.Text));
        }

        // The list of the prefix, from another node, on PostgreSQL: the three documents in name order, each at its head.
        using var lister = new RelayApiClient(_cluster[0].HttpUrl, ThreeNodeCluster.ApiKey);
        var list = await lister.GetAsync("/api/v1/documents?prefix=" + Uri.EscapeDataString(prefix));
        Assert.Equal(
            Enumerable.Range(0, 3).Select(n => (prefix + "d" + n, (long)PerDocument)),
            list.Body.GetProperty("documents").EnumerateArray().Select(known => (known.GetProperty("document").GetString()!, known.GetProperty("head").GetInt64())));
        _output.WriteLine($"{placement}: 3 x {PerDocument} patches written at once through three nodes, fed once each in order on one");

        // Deleted through another node than its watcher's, on PostgreSQL: the watcher is closed with 1012, the list
        // leaves it out, and its next history starts at 1 under a new epoch. (Not under api/: a WebSocket watches it.)
        var deletedDocument = $"deleted/{placement}-{Guid.NewGuid():N}";
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(i, (await lister.PublishAsync(deletedDocument, $"[{i}]")).Seq);
        }

        await using var watcher = await RelayV1Client.ConnectAsync(_cluster[2].WebSocketUrlOf(deletedDocument));
        Assert.Equal(3, watcher.Head);
        using var deleter = new RelayApiClient(_cluster[1].HttpUrl, ThreeNodeCluster.ApiKey);
        var deleted = await deleter.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(deletedDocument), null);
        Assert.Equal((HttpStatusCode.OK, 3L), (deleted.Status, deleted.Body.GetProperty("deletedThrough").GetInt64()));
        Assert.Equal(1012, (int?)(await watcher.Client.Closed.WaitAsync(TimeSpan.FromSeconds(30))).Status);
        var gone = await lister.GetAsync("/api/v1/documents?prefix=" + Uri.EscapeDataString(deletedDocument));
        Assert.Equal(0, gone.Body.GetProperty("documents").GetArrayLength());
        var republished = await lister.PublishAsync(deletedDocument, "[1]");
        Assert.Equal(1, republished.Seq);
        Assert.NotEqual(watcher.Epoch, republished.Body.GetProperty("epoch").GetString());

        // Retention on PostgreSQL (kept/, the last 5 kept): the sweeper trims a document under its snapshot.
        var kept = $"kept/{placement}-{Guid.NewGuid():N}";
        var big = new string('x', 1024);
        for (var i = 1; i <= 40; i++)
        {
            Assert.Equal(i, (await deleter.PublishAsync(kept, $$"""[{"op":"add","path":["k{{i}}"],"value":"{{big}}"}]""")).Seq);
        }

        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            var history = await lister.GetAsync(RelayApiClient.PathOf(kept, "/patches?after=0"));
            return history.Status == HttpStatusCode.Conflict;
        }, TimeSpan.FromSeconds(60)), "retention trimmed nothing of " + kept);
        var state = await lister.GetAsync(RelayApiClient.PathOf(kept));
        Assert.Equal((HttpStatusCode.OK, 40L, 40), (state.Status, state.Body.GetProperty("head").GetInt64(), state.Body.GetProperty("state").EnumerateObject().Count()));
    }

    private async Task UseClusterAsync(string placement) => _cluster = await _fixture.WithPlacementAsync(placement);
}
