using System.Net;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>
/// How documents open and close on a node: the cap on open documents, an idle document's sequencer stopping
/// and coming back from the journal, and a journal written before documents read as the default document.
/// Each test runs a node of its own, because it counts the node's documents or its sequencers.
/// </summary>
public sealed class DocumentLifecycleSpecs
{

    [Fact]
    public async Task Should_refuse_an_upgrade_that_would_open_one_document_too_many_with_503_while_open_documents_keep_relaying()
    {
        // The default document counts as one and is always open: two more fill the node.
        await using var node = RelayNode.Sqlite("max-open", extra: new Dictionary<string, string> { ["Relay:Documents:MaxOpenPerNode"] = "3" });
        await node.StartAsync();
        await using var a1 = await RelayClient.ConnectAsync(node.WebSocketUrlOf("a"));
        await using var a2 = await RelayClient.ConnectAsync(node.WebSocketUrlOf("a"));
        var b = await RelayClient.ConnectAsync(node.WebSocketUrlOf("b"));
        try
        {
            Assert.Equal(3, (await node.StatusAsync()).GetProperty("openDocuments").GetInt32());
            Assert.Equal(HttpStatusCode.ServiceUnavailable, await RawHttp.UpgradeStatusAsync(node.WebSocketUrlOf("c")));

            // Documents already open take more clients and keep relaying; so does the default document.
            Assert.Equal(HttpStatusCode.SwitchingProtocols, await RawHttp.UpgradeStatusAsync(node.WebSocketUrlOf("b")));
            await a1.SendTextAsync("a still relays");
            Assert.Equal("a still relays", (await a2.ReceiveAsync()).Text);
            await using (var d1 = await RelayClient.ConnectAsync(node.WebSocketUrl))
            await using (var d2 = await RelayClient.ConnectAsync(node.WebSocketUrl))
            {
                await d1.SendTextAsync("the default document still relays");
                Assert.Equal("the default document still relays", (await d2.ReceiveAsync()).Text);
            }

            // Once b's last client is gone, c may open.
            await b.CloseAsync();
            var opened = await Eventually.HoldsAsync(
                async () => await RawHttp.UpgradeStatusAsync(node.WebSocketUrlOf("c")) == HttpStatusCode.SwitchingProtocols,
                TimeSpan.FromSeconds(15));
            Assert.True(opened, "c was still refused after b closed\n" + node.Output);
            await using var c = await RelayClient.ConnectAsync(node.WebSocketUrlOf("c"));
            await c.SendTextAsync("c relays");
            await using var c2 = await RelayClient.ConnectAsync(node.WebSocketUrlOf("c"));
            Assert.Equal("c relays", (await c2.ReceiveAsync()).Text);
        }
        finally
        {
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_stop_an_idle_documents_sequencer_and_restart_it_from_the_journal_on_its_next_client()
    {
        await using var node = RelayNode.Sqlite("passivate", extra: new Dictionary<string, string> { ["Relay:Documents:PassivateAfter"] = "00:00:02" });
        await node.StartAsync();
        var expected = Enumerable.Range(1, 5).Select(i => $"p{i}").ToList();
        await using (var sender = await RelayClient.ConnectAsync(node.WebSocketUrlOf("p")))
        await using (var watcher = await RelayClient.ConnectAsync(node.WebSocketUrlOf("p")))
        {
            foreach (var patch in expected)
            {
                await sender.SendTextAsync(patch);
            }

            Assert.Equal(expected, (await watcher.ReceiveManyAsync(expected.Count)).Select(message => message.Text));
            await sender.CloseAsync();
            await watcher.CloseAsync();
        }

        var stopped = await Eventually.HoldsAsync(async () => !(await node.SequencersAsync()).Contains("p"), TimeSpan.FromSeconds(30));
        Assert.True(stopped, "the sequencer of /p still runs\n" + node.Output);
        // The default document's sequencer never passivates.
        Assert.Contains(string.Empty, await node.SequencersAsync());

        await using var back = await RelayClient.ConnectAsync(node.WebSocketUrlOf("p"));
        Assert.Equal(expected, (await back.ReceiveManyAsync(expected.Count)).Select(message => message.Text));
        await back.SendTextAsync("p6");
        await using var next = await RelayClient.ConnectAsync(node.WebSocketUrlOf("p"));
        Assert.Equal(expected.Append("p6"), (await next.ReceiveManyAsync(expected.Count + 1)).Select(message => message.Text));
        Assert.Equal(6, (await node.StatusAsync("p")).GetProperty("lastSequence").GetInt64());
    }

    [Fact]
    public async Task Should_relay_to_clients_that_stayed_connected_while_their_idle_documents_sequencer_stopped()
    {
        await using var node = RelayNode.Sqlite("passivate-open", extra: new Dictionary<string, string> { ["Relay:Documents:PassivateAfter"] = "00:00:02" });
        await node.StartAsync();
        await using var sender = await RelayClient.ConnectAsync(node.WebSocketUrlOf("q"));
        await using var watcher = await RelayClient.ConnectAsync(node.WebSocketUrlOf("q"));
        await sender.SendTextAsync("q1");
        Assert.Equal("q1", (await watcher.ReceiveAsync()).Text);

        var stopped = await Eventually.HoldsAsync(async () => !(await node.SequencersAsync()).Contains("q"), TimeSpan.FromSeconds(30));
        Assert.True(stopped, "the sequencer of /q never stopped while its clients were idle\n" + node.Output);
        await sender.SendTextAsync("q2");

        Assert.Equal("q2", (await watcher.ReceiveAsync(TimeSpan.FromSeconds(15))).Text);
        await using var late = await RelayClient.ConnectAsync(node.WebSocketUrlOf("q"));
        Assert.Equal(["q1", "q2"], (await late.ReceiveManyAsync(2)).Select(message => message.Text));
        Assert.False(sender.Closed.IsCompleted || watcher.Closed.IsCompleted, "a client of /q was closed");
    }

    [Fact]
    public async Task Should_read_a_journal_written_before_documents_as_the_default_document()
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "Fixtures", "journal-f84aeeb-50-patches.db");
        var databaseFile = Path.Combine(RepoPaths.NewTempFolder("legacy"), "relay.db");
        File.Copy(fixture, databaseFile);
        var legacy = Enumerable.Range(1, 50).Select(i => $"legacy-{i:D2}").ToList();
        await using var node = RelayNode.Sqlite("legacy", databaseFile);
        await node.StartAsync();

        await using var joiner = await RelayClient.ConnectAsync(node.WebSocketUrl);
        Assert.Equal(legacy, (await joiner.ReceiveManyAsync(legacy.Count)).Select(message => message.Text));
        Assert.Null(await joiner.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
        await joiner.SendTextAsync("after-upgrade");
        var numbered = await Eventually.HoldsAsync(
            async () => (await node.StatusAsync()).GetProperty("lastSequence").GetInt64() == 51,
            TimeSpan.FromSeconds(15));
        await using var next = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var history = (await next.ReceiveManyAsync(legacy.Count + 1)).Select(message => message.Text);
        await using var fresh = await RelayClient.ConnectAsync(node.WebSocketUrlOf("fresh"));
        var freshStatus = await node.StatusAsync("fresh");

        Assert.True(numbered, $"GET / says lastSequence {(await node.StatusAsync()).GetProperty("lastSequence")}, not 51");
        Assert.Equal(legacy.Append("after-upgrade"), history);
        Assert.Null(await fresh.ReceiveNothingAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Equal(0, freshStatus.GetProperty("lastSequence").GetInt64());
    }
}
