using System.Net;
using System.Text;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>
/// The <c>relay.v1</c> subprotocol (docs/protocol.md) against a real node: the hello, numbered patches, the
/// sender's acknowledgements in the order, text and binary payloads byte for byte, resume within an epoch, no
/// double after a reconnect's resend, and the refusals. Raw clients of the same document see what they always did.
/// Each test uses a document of its own on the shared node.
/// </summary>
[Collection(SharedNodeCollection.Name)]
public sealed class RelayV1Specs
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly RelayNode _node;

    public RelayV1Specs(SharedNodeFixture fixture) => _node = fixture.Node;

    [Fact]
    public async Task Should_greet_number_patches_and_acknowledge_the_senders_own_while_raw_clients_get_the_bare_payloads()
    {
        var document = Unique("greet");
        await using var sender = await RelayV1Client.ConnectAsync(Url(document, "client=sender-1"));
        await using var watcher = await RelayV1Client.ConnectAsync(Url(document));
        await using var raw = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));

        Assert.Equal(document, watcher.Hello.Header.GetProperty("document").GetString());
        Assert.Matches("^[0-9a-f]{16}$", watcher.Epoch);
        Assert.Equal(0, watcher.Head);
        Assert.False(watcher.Resumed);

        var binary = new byte[] { 0, 255, 10, 13, (byte)'{', 10, 128 };
        await sender.SendTextAsync(1, "{\"op\":\"add\",\n \"path\":[\"gifts\",0]}");
        await sender.SendBinaryAsync(2, binary);

        var acks = await sender.ReceiveManyAsync(2, Patience);
        Assert.Equal([("ack", 1L, 1L), ("ack", 2L, 2L)], acks.Select(a => (a.Type, a.Header.GetProperty("id").GetInt64(), a.Seq)));
        var patches = await watcher.ReceiveManyAsync(2, Patience);
        Assert.Equal([("patch", 1L, true), ("patch", 2L, false)], patches.Select(p => (p.Type, p.Seq, p.IsText)));
        Assert.Equal("{\"op\":\"add\",\n \"path\":[\"gifts\",0]}", patches[0].Text);
        Assert.Equal(binary, patches[1].Payload);

        var bare = await raw.ReceiveManyAsync(2, Patience);
        Assert.Equal("{\"op\":\"add\",\n \"path\":[\"gifts\",0]}", bare[0].Text);
        Assert.Equal(binary, bare[1].Payload);
        Assert.False(bare[1].IsText);
    }

    [Fact]
    public async Task Should_resume_after_the_clients_last_sequence_number_within_the_same_epoch()
    {
        var document = Unique("resume");
        await using var sender = await RelayV1Client.ConnectAsync(Url(document, "client=writer"));
        string epoch;
        await using (var reader = await RelayV1Client.ConnectAsync(Url(document)))
        {
            epoch = reader.Epoch;
            for (var id = 1; id <= 5; id++)
            {
                await sender.SendTextAsync(id, $"p{id}");
            }

            Assert.Equal([1L, 2, 3, 4, 5], (await reader.ReceiveManyAsync(5, Patience)).Select(p => p.Seq));
        }

        for (var id = 6; id <= 8; id++)
        {
            await sender.SendTextAsync(id, $"p{id}");
        }

        await sender.ReceiveManyAsync(8, Patience);

        // Resumed: only what came after 5.
        await using var resumed = await RelayV1Client.ConnectAsync(Url(document, $"after=5&epoch={epoch}"));
        Assert.True(resumed.Resumed);
        Assert.Equal(8, resumed.Head);
        Assert.Equal(epoch, resumed.Epoch);
        var tail = await resumed.ReceiveManyAsync(3, Patience);
        Assert.Equal([(6L, "p6"), (7L, "p7"), (8L, "p8")], tail.Select(p => (p.Seq, p.Text)));
        Assert.Null(await resumed.Client.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));

        // Another epoch, or a point past the head: a full join, said so in the hello.
        await using var otherEpoch = await RelayV1Client.ConnectAsync(Url(document, "after=5&epoch=00000000000000ff"));
        Assert.False(otherEpoch.Resumed);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), (await otherEpoch.ReceiveManyAsync(8, Patience)).Select(p => p.Seq));
        await using var pastHead = await RelayV1Client.ConnectAsync(Url(document, $"after=9&epoch={epoch}"));
        Assert.False(pastHead.Resumed);
        Assert.Equal(Enumerable.Range(1, 8).Select(i => (long)i), (await pastHead.ReceiveManyAsync(8, Patience)).Select(p => p.Seq));
    }

    [Fact]
    public async Task Should_journal_a_resent_patch_once_and_acknowledge_it_with_its_original_sequence_number()
    {
        var document = Unique("resend");
        await using var other = await RelayV1Client.ConnectAsync(Url(document, "client=other"));
        await using var watcher = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        string epoch;
        await using (var first = await RelayV1Client.ConnectAsync(Url(document, "client=phone")))
        {
            epoch = first.Epoch;
            await first.SendTextAsync(1, "a");
            Assert.Equal(1, (await first.ReceiveAsync(Patience)).Seq);
            await other.SendTextAsync(1, "interleaved");

            // Sequenced before b: two sockets' frames reach the sequencer in no set order.
            Assert.Equal([("patch", 1L), ("ack", 2L)], (await other.ReceiveManyAsync(2, Patience)).Select(f => (f.Type, f.Seq)));
            await first.SendTextAsync(2, "b");
            await first.SendTextAsync(3, "c");
            // The socket drops before the client reads the acknowledgements of 2 and 3.
            Assert.Equal(["a", "interleaved", "b", "c"], (await watcher.ReceiveManyAsync(4, Patience)).Select(r => r.Text));
        }

        // The client holds everything up to 1 and resends 2 and 3 with their ids, then goes on with 4.
        await using var again = await RelayV1Client.ConnectAsync(Url(document, $"client=phone&after=1&epoch={epoch}"));
        Assert.True(again.Resumed);
        await again.SendTextAsync(2, "b");
        await again.SendTextAsync(3, "c");
        await again.SendTextAsync(4, "d");
        var frames = await again.ReceiveManyAsync(4, Patience);
        Assert.Equal(
            [("patch", 2L, 0L), ("ack", 3L, 2L), ("ack", 4L, 3L), ("ack", 5L, 4L)],
            frames.Select(f => (f.Type, f.Seq, f.Type == "ack" ? f.Header.GetProperty("id").GetInt64() : 0L)));
        Assert.Equal("d", (await watcher.ReceiveAsync(Patience)).Text);
        Assert.Null(await watcher.ReceiveNothingAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(5, (await _node.StatusAsync(document)).GetProperty("lastSequence").GetInt64());
    }

    [Fact]
    public async Task Should_tell_a_client_that_reuses_its_name_the_last_id_and_refuse_ids_it_reused_without_dropping_one_silently()
    {
        // A page keeps its client id (sessionStorage) but not its counter: it sends 60 patches, reloads, and starts
        // again at 1. None of the new ones may be dropped as a "resend" of the old ones without the client being told.
        var document = Unique("reused-id");
        await using var watcher = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        await using (var before = await RelayV1Client.ConnectAsync(Url(document, "client=page")))
        {
            Assert.Equal(0, before.Hello.Header.GetProperty("lastId").GetInt64());
            for (var id = 1; id <= 60; id++)
            {
                await before.SendTextAsync(id, $"old {id}");
            }

            Assert.Equal(60, (await before.ReceiveManyAsync(60, Patience)).Last().Seq);
        }

        Assert.Equal(60, (await watcher.ReceiveManyAsync(60, Patience)).Count);

        // After the reload: the hello names the last id journaled under the name.
        await using (var reloaded = await RelayV1Client.ConnectAsync(Url(document, "client=page")))
        {
            Assert.Equal(60, reloaded.Hello.Header.GetProperty("lastId").GetInt64());
            Assert.Equal(60, (await reloaded.ReceiveManyAsync(60, Patience)).Count(f => f.Type == "ack"));

            // A client that ignores it and starts again at 1 is told, not silently dropped.
            await reloaded.SendTextAsync(1, "new 1");
            await reloaded.SendTextAsync(2, "new 2");
            var closed = await reloaded.Client.Closed.WaitAsync(Patience);
            Assert.Equal(1008, (int?)closed.Status);
            Assert.StartsWith("patch id reused", closed.Description);
        }

        // The last journaled id again, with another payload: refused at once.
        await using (var conflicting = await RelayV1Client.ConnectAsync(Url(document, "client=page")))
        {
            await conflicting.SendTextAsync(60, "new 60");
            var closed = await conflicting.Client.Closed.WaitAsync(Patience);
            Assert.StartsWith("patch id reused", closed.Description);
        }

        // One that continues after lastId loses nothing and doubles nothing.
        await using var continuing = await RelayV1Client.ConnectAsync(Url(document, "client=page"));
        Assert.Equal(60, continuing.Hello.Header.GetProperty("lastId").GetInt64());
        for (var id = 61; id <= 120; id++)
        {
            await continuing.SendTextAsync(id, $"new {id}");
        }

        var frames = await continuing.ReceiveManyAsync(120, Patience);
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), frames.Select(f => f.Seq));
        Assert.Equal(Enumerable.Range(1, 120).Select(i => (long)i), frames.Select(f => f.Header.GetProperty("id").GetInt64()));
        var relayed = await watcher.ReceiveManyAsync(60, Patience);
        Assert.Equal(Enumerable.Range(61, 60).Select(i => $"new {i}"), relayed.Select(r => r.Text));
        Assert.Null(await watcher.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Equal(120, (await _node.StatusAsync(document)).GetProperty("lastSequence").GetInt64());
    }

    [Fact]
    public async Task Should_tell_one_of_two_sockets_that_share_a_client_name_and_lose_nothing_the_other_sent()
    {
        var document = Unique("twins");
        await using var first = await RelayV1Client.ConnectAsync(Url(document, "client=twin"));
        await using var second = await RelayV1Client.ConnectAsync(Url(document, "client=twin"));
        Assert.Equal(0, second.Hello.Header.GetProperty("lastId").GetInt64());

        await first.SendTextAsync(1, "first 1");
        await first.SendTextAsync(2, "first 2");
        Assert.Equal([1L, 2], (await first.ReceiveManyAsync(2, Patience)).Select(f => f.Seq));

        // The second numbers from 1 too: its frames are below the name's last id and never get there.
        await second.SendTextAsync(1, "second 1");
        var closed = await second.Client.Closed.WaitAsync(Patience);
        Assert.StartsWith("patch id reused", closed.Description);

        // The first goes on; everything it sent is there, once.
        await first.SendTextAsync(3, "first 3");
        Assert.Equal(3, (await first.ReceiveAsync(Patience)).Seq);
        await using var reader = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        Assert.Equal(["first 1", "first 2", "first 3"], (await reader.ReceiveManyAsync(3, Patience)).Select(r => r.Text));
        Assert.Null(await reader.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Should_close_with_1008_on_a_frame_without_a_header_or_an_id_out_of_order()
    {
        var document = Unique("bad-frames");
        await using var noHeader = await RelayV1Client.ConnectAsync(Url(document));
        await noHeader.Client.SendTextAsync("no header here");
        var closed = await noHeader.Client.Closed.WaitAsync(Patience);
        Assert.Equal(1008, (int?)closed.Status);
        Assert.StartsWith("bad relay.v1 frame", closed.Description);

        await using var skipping = await RelayV1Client.ConnectAsync(Url(document));
        await skipping.SendTextAsync(1, "one");
        await skipping.SendTextAsync(3, "three");
        closed = await skipping.Client.Closed.WaitAsync(Patience);
        Assert.Equal(1008, (int?)closed.Status);
        Assert.Equal("patch ids must go up by one", closed.Description);
    }

    [Fact]
    public async Task Should_answer_as_docs_protocol_md_says_where_a_second_client_author_needs_an_answer()
    {
        var document = Unique("conformance");
        await using var writer = await RelayV1Client.ConnectAsync(Url(document, "client=writer"));
        await using var watcher = await RelayV1Client.ConnectAsync(Url(document));
        await using var raw = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        await writer.SendTextAsync(1, "p1");
        var ack = await writer.ReceiveAsync(Patience);
        Assert.Equal(("ack", 1L), (ack.Type, ack.Seq));

        // An epoch in capitals is the same epoch; after's digits may have leading zeros.
        await using var resumed = await RelayV1Client.ConnectAsync(Url(document, $"after=01&epoch={writer.Epoch.ToUpperInvariant()}"));
        Assert.True(resumed.Resumed);
        Assert.Equal(1, resumed.Head);

        // A header up to 4 KiB with members the server does not know is taken.
        await using var verbose = await RelayV1Client.ConnectAsync(Url(document, "client=verbose"));
        await verbose.Client.SendTextAsync("{\"id\":1,\"trace\":\"" + new string('t', 4000) + "\"}\np2");
        Assert.Equal([("patch", 1L), ("ack", 2L)], (await verbose.ReceiveManyAsync(2, Patience)).Select(f => (f.Type, f.Seq)));

        // Frames the server cannot read close their connection with 1008 and are never relayed.
        foreach (var bad in new[] { "{\"id\":1}", "{\"id\":1,\"id\":2}\nbad", "{\"id\":1e0}\nbad", "{\"id\":1,\"pad\":\"" + new string('x', 4096) + "\"}\nbad" })
        {
            await using var sender = await RelayV1Client.ConnectAsync(Url(document, "client=bad-" + Guid.NewGuid().ToString("N")));
            await sender.Client.SendTextAsync(bad);
            var closed = await sender.Client.Closed.WaitAsync(Patience);
            Assert.Equal(1008, (int?)closed.Status);
            Assert.StartsWith("bad relay.v1 frame: ", closed.Description);
        }

        // The marker: the next patch journaled follows p2 directly, for every kind of reader.
        await writer.SendTextAsync(2, "p3");
        Assert.Equal([(1L, "p1"), (2L, "p2"), (3L, "p3")], (await watcher.ReceiveManyAsync(3, Patience)).Select(f => (f.Seq, f.Text)));
        Assert.Equal([(2L, "p2"), (3L, "p3")], (await resumed.ReceiveManyAsync(2, Patience)).Select(f => (f.Seq, f.Text)));
        Assert.Equal(["p1", "p2", "p3"], (await raw.ReceiveManyAsync(3, Patience)).Select(r => r.Text));
        Assert.Equal(3, (await _node.StatusAsync(document)).GetProperty("lastSequence").GetInt64());
    }

    [Theory]
    [InlineData("client=has%20space", "client must be")]
    [InlineData("after=3", "after and epoch go together")]
    [InlineData("after=-1&epoch=0000000000000001", "after must be")]
    [InlineData("after=1&epoch=xyz", "epoch must be")]
    public async Task Should_refuse_a_relay_v1_upgrade_with_a_bad_query_with_400(string query, string reason)
    {
        var response = await RawHttp.GetAsync(_node, $"/{Unique("bad-query")}?{query}", upgrade: true, subProtocol: "relay.v1");
        Assert.Equal((int)HttpStatusCode.BadRequest, response.Status);
        Assert.Contains(reason, response.Body);
    }

    private Uri Url(string document, string query = "") =>
        new(_node.WebSocketUrlOf(document) + (query.Length > 0 ? "?" + query : string.Empty));

    private static string Unique(string name) => $"v1/{name}-{Guid.NewGuid():N}";
}
