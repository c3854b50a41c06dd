#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Cluster.Tools.PublishSubscribe.Internal;
using Akka.TestKit;
using Microsoft.Data.Sqlite;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.History;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// A real <see cref="DocumentHubActor"/> subscribed through the node's real DistributedPubSub mediator, with real
/// connections under it, on the node's real journal (read through a <see cref="RecordingPatchJournal"/>). A real
/// <see cref="HistoryActor"/> writes the journal but publishes to a probe: the spec publishes on the document's
/// topic itself, so it can lose a patch on the way. A probe plays the sequencer the hub asks for the head.
/// </summary>
public sealed class DocumentHubActorSpecs : RelaySpec
{
    private static readonly DocumentName Doc = DocumentName.Parse("specs/hub");
    private static readonly HubSettings Settings = new(Held: new HeldLimits(100, 1024 * 1024), ReopenAfter: TimeSpan.FromMinutes(1));

    // A tail of its own per spec: the node's budget is per node, and each spec is one.
    private readonly HubSettings _withTail = Settings with { Tail = new TailLimits(1024 * 1024, new ReplayTailBudget(8 * 1024 * 1024)) };

    private readonly IActorRef _mediator;
    private readonly TestProbe _sequencer;
    private readonly RecordingPatchJournal _journal;
    private readonly IActorRef _writer;
    private readonly TestProbe _published;
    private readonly TestProbe _writerConnection;
    private long _frames;
    private int _connections;

    public DocumentHubActorSpecs(ITestOutputHelper output)
        : base(output, configure: options => options.Journal.SkipGapAfter = TimeSpan.FromMilliseconds(500))
    {
        _mediator = DistributedPubSub.Get(Sys).Mediator;
        _sequencer = CreateTestProbe();
        _journal = new RecordingPatchJournal(PatchJournal);
        _published = CreateTestProbe();
        _published.IgnoreMessages<Publish>(p => p.Message is HistoryHeartbeat);
        _writerConnection = CreateTestProbe();
        _writer = Sys.ActorOf(
            HistoryActor.Props(Doc, _published.Ref, new NodeStatus(), new HistorySettings(1_000, TimeSpan.FromMinutes(10), 1_000, TimeSpan.Zero)),
            "spec-sequencer");
    }

    [Fact]
    public async Task Should_join_its_connections_at_the_sequencers_head_and_hand_them_what_follows()
    {
        await JournalAsync("h1", "h2", "h3");
        // The real sequencer names the head this time.
        var hub = Sys.ActorOf(DocumentHubActor.Props(Doc, _mediator, _writer, ReaderOf(_journal), Settings, null));
        var link = await OpenAsync(hub);

        Assert.Equal(["h1", "h2", "h3"], await ReadAsync(link, 3));
        var live = await JournalAsync("p4");
        await AwaitSubscribedAsync();
        Publish(live[0]);
        Assert.Equal(["p4"], await ReadAsync(link, 1));
        Assert.Equal([(1L, 3L)], _journal.Reads);
    }

    [Fact]
    public async Task Should_hand_each_patch_to_every_connection_once_and_in_order()
    {
        var hub = await StartHubAsync(head: 0);
        var links = new[] { await OpenAsync(hub), await OpenAsync(hub), await OpenAsync(hub) };

        var patches = await JournalAsync("p1", "p2", "p3");
        Publish(patches[0]);
        Publish(patches[1]);
        Publish(patches[1]);
        Publish(patches[2]);

        foreach (var link in links)
        {
            Assert.Equal(["p1", "p2", "p3"], await ReadAsync(link, 3));
        }

        await ExpectNoOutboundAsync(links);
        Assert.Empty(_journal.Reads);
    }

    [Fact]
    public async Task Should_hand_on_the_patches_of_a_published_group_in_order_and_read_a_group_the_topic_lost()
    {
        var hub = await StartHubAsync(head: 0);
        var links = new[] { await OpenAsync(hub), await OpenAsync(hub) };

        var patches = await JournalAsync("p1", "p2", "p3", "p4", "p5", "p6", "p7");
        _mediator.Tell(new Publish(Doc.Topic, new PatchesAppended([patches[0], patches[1], patches[2]])));
        // The group of 4 and 5 is lost; one overlapping what came before is handed on from 6.
        _mediator.Tell(new Publish(Doc.Topic, new PatchesAppended([patches[2], patches[5], patches[6]])));

        foreach (var link in links)
        {
            Assert.Equal(["p1", "p2", "p3", "p4", "p5", "p6", "p7"], await ReadAsync(link, 7));
        }

        await ExpectNoOutboundAsync(links);
        Assert.Equal([(4L, 5L)], _journal.Reads);
    }

    [Fact]
    public async Task Should_read_a_patch_the_topic_lost_from_the_journal_once_for_all_its_connections()
    {
        const int connections = 50;
        var hub = await StartHubAsync(head: 0);
        var links = new List<ClientLink>();
        for (var i = 0; i < connections; i++)
        {
            links.Add(await OpenAsync(hub));
        }

        // 3 is journaled, but the topic never brings it.
        var patches = await JournalAsync("p1", "p2", "p3", "p4");
        Publish(patches[0]);
        Publish(patches[1]);
        Publish(patches[3]);

        foreach (var link in links)
        {
            Assert.Equal(["p1", "p2", "p3", "p4"], await ReadAsync(link, 4));
        }

        Assert.Equal([(3L, 3L)], _journal.Reads);
    }

    [Fact]
    public async Task Should_not_close_a_reading_client_when_a_gap_it_fills_hands_on_more_large_patches_than_its_queue_takes_at_once()
    {
        // The topic loses a run of 60 KB patches; the hub reads them from the journal and hands them on together, to a
        // live client with a 256 KB queue that reads steadily. What does not fit is read from the journal at its pace.
        const int patchBytes = 60 * 1024;
        const int count = 20;
        var hub = await StartHubAsync(head: 0);
        var link = new ClientLink(256 * 1024, 16, maxEphemeralBytes: 1024);
        await hub.Ask<DocumentHubActor.ConnectionOpened>(new DocumentHubActor.OpenConnection($"c{++_connections}", link, ConnectionSettings.Default), Patience);
        var reading = Task.Run(async () =>
        {
            var sequences = new List<long>();
            while (sequences.Count < count)
            {
                try
                {
                    sequences.Add((await link.ReadSentAsync<PatchFrame>(Patience)).Sequence);
                }
                catch (InvalidOperationException) when (link.Closed.IsCompleted)
                {
                    throw new InvalidOperationException($"closed with {await link.Closed} after {sequences.Count} patches");
                }
            }

            return sequences;
        });

        var patches = new List<PatchAppended>();
        for (var i = 0; i < count; i++)
        {
            var frame = ++_frames;
            _writer.Tell(new AppendPatch(Doc, "other", frame, frame, new byte[patchBytes], IsText: false), _writerConnection.Ref);
            await _writerConnection.ExpectMsgAsync<AppendPatchResponse>(Patience);
            patches.Add((PatchAppended)(await _published.ExpectMsgAsync<Publish>(Patience)).Message);
        }

        // Only the last one reaches the hub: 1 to 19 are a gap it reads from the journal at once.
        await AwaitSubscribedAsync();
        Publish(patches[^1]);

        Assert.Equal(Enumerable.Range(1, count).Select(n => (long)n), await reading.WaitAsync(Patience * 2));
        Assert.False(link.Closed.IsCompleted);
        await ExpectNoOutboundAsync([link]);
    }

    [Fact]
    public async Task Should_hand_on_past_a_row_the_journal_lacks_once_the_gap_has_lasted_and_register_the_hole_once()
    {
        var reader = ReaderOf(_journal);
        var hub = await StartHubAsync(head: 0, reader);
        var links = new[] { await OpenAsync(hub), await OpenAsync(hub) };

        // 3 is lost on the topic and then from the journal: a hole, with 4 after it.
        var patches = await JournalAsync("p1", "p2", "p3", "p4");
        await DeleteRowAsync(Doc, 3);
        Publish(patches[0]);
        Publish(patches[1]);
        Publish(patches[3]);

        foreach (var link in links)
        {
            Assert.Equal(["p1", "p2", "p4"], await ReadAsync(link, 3));
        }

        Assert.Equal([new JournalHole(Doc, 3, 3)], reader.Holes.Holes);

        // Past the hole the hub goes on as before.
        var next = await JournalAsync("p5");
        Publish(next[0]);
        foreach (var link in links)
        {
            Assert.Equal(["p5"], await ReadAsync(link, 1));
        }
    }

    [Fact]
    public async Task Should_fill_a_lost_trailing_patch_that_a_heartbeat_reveals()
    {
        var hub = await StartHubAsync(head: 0);
        var links = new[] { await OpenAsync(hub), await OpenAsync(hub) };
        var patches = await JournalAsync("p1", "p2");
        Publish(patches[0]);
        foreach (var link in links)
        {
            Assert.Equal(["p1"], await ReadAsync(link, 1));
        }

        // 2 was lost and nothing follows it: only the heartbeat tells.
        _mediator.Tell(new Publish(Doc.Topic, new HistoryHeartbeat(2)));

        foreach (var link in links)
        {
            Assert.Equal(["p2"], await ReadAsync(link, 1));
        }

        Assert.Equal([(2L, 2L)], _journal.Reads);
    }

    [Fact]
    public async Task Should_serve_a_join_whose_history_lies_in_its_tail_from_memory_without_reading_the_journal()
    {
        var hub = await StartHubAsync(head: 0, settings: _withTail);
        var first = await OpenAsync(hub);
        var patches = await JournalAsync("p1", "p2", "p3");
        await AwaitSubscribedAsync();
        foreach (var patch in patches)
        {
            Publish(patch);
        }

        Assert.Equal(["p1", "p2", "p3"], await ReadAsync(first, 3));

        var joiner = await OpenAsync(hub);
        Assert.Equal(["p1", "p2", "p3"], await ReadAsync(joiner, 3));
        var live = await JournalAsync("p4");
        Publish(live[0]);
        Assert.Equal(["p4"], await ReadAsync(joiner, 1));
        Assert.Equal(["p4"], await ReadAsync(first, 1));
        await ExpectNoOutboundAsync([first, joiner]);
        Assert.Empty(_journal.Reads);
    }

    [Fact]
    public async Task Should_read_a_join_that_starts_before_its_tail_from_the_journal_up_to_the_tail_and_the_rest_from_it_each_once_in_order()
    {
        await JournalAsync("h1", "h2");
        var hub = await StartHubAsync(head: 2, settings: _withTail);
        var first = await OpenAsync(hub);
        Assert.Equal(["h1", "h2"], await ReadAsync(first, 2));
        var patches = await JournalAsync("p3", "p4", "p5");
        await AwaitSubscribedAsync();
        foreach (var patch in patches)
        {
            Publish(patch);
        }

        Assert.Equal(["p3", "p4", "p5"], await ReadAsync(first, 3));

        var joiner = await OpenAsync(hub);
        Assert.Equal(["h1", "h2", "p3", "p4", "p5"], await ReadAsync(joiner, 5));
        var live = await JournalAsync("p6");
        Publish(live[0]);
        Assert.Equal(["p6"], await ReadAsync(joiner, 1));
        Assert.Equal(["p6"], await ReadAsync(first, 1));
        await ExpectNoOutboundAsync([first, joiner]);

        // The journal only before the tail: 1 to 2 for each joiner, nothing of 3 to 5.
        Assert.Equal([(1L, 2L), (1L, 2L)], _journal.Reads);
    }

    [Fact]
    public async Task Should_join_a_connection_opened_before_the_head_is_known_only_once_it_is()
    {
        var history = await JournalAsync("h1", "h2", "p3");
        var hub = Sys.ActorOf(DocumentHubActor.Props(Doc, _mediator, _sequencer.Ref, ReaderOf(_journal), Settings, null));
        await _sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        var link = await OpenAsync(hub);

        // A live patch before the head: held, like the connection.
        Publish(history[2]);
        await ExpectNoOutboundAsync([link]);
        Assert.Empty(_journal.Reads);

        hub.Tell(new DocumentOpened(Doc, 2), _sequencer.Ref);

        Assert.Equal(["h1", "h2", "p3"], await ReadAsync(link, 3));
        Assert.Equal([(1L, 2L)], _journal.Reads);
        var live = await JournalAsync("p4");
        Publish(live[0]);
        Assert.Equal(["p4"], await ReadAsync(link, 1));
    }

    [Fact]
    public async Task Should_ask_the_sequencer_again_until_it_names_the_head()
    {
        var hub = Sys.ActorOf(DocumentHubActor.Props(Doc, _mediator, _sequencer.Ref, ReaderOf(_journal), Settings with { ReopenAfter = TimeSpan.FromMilliseconds(200) }, null));

        await _sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        Assert.Equal(new OpenDocument(Doc), await _sequencer.ExpectMsgAsync<OpenDocument>(Patience));
        hub.Tell(new DocumentOpened(Doc, 0), _sequencer.Ref);

        // Opened, so the answer was handled (the spec sent both): asks already on their way are let through.
        await OpenAsync(hub);
        while (_sequencer.HasMessages)
        {
            await _sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        }

        // Once the head is known, the topic keeps the hub up to date: a document's sequencer may passivate in peace.
        await _sequencer.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(800));
    }

    [Fact]
    public async Task Should_report_idle_to_its_parent_when_its_last_connection_leaves()
    {
        var parent = CreateTestProbe();
        var hub = parent.ChildActorOf(DocumentHubActor.Props(Doc, _mediator, _sequencer.Ref, ReaderOf(_journal), Settings, null));
        await _sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        hub.Tell(new DocumentOpened(Doc, 0), _sequencer.Ref);
        var first = await OpenConnectionAsync(hub);
        var second = await OpenConnectionAsync(hub);

        first.Connection.Tell(ConnectionActor.ClientDisconnected.Instance);
        await parent.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        second.Connection.Tell(ConnectionActor.ClientDisconnected.Instance);
        Assert.Equal(new DocumentHubsActor.HubIdle(Doc, 2), await parent.ExpectMsgAsync<DocumentHubsActor.HubIdle>(Patience));
    }

    [Fact]
    public async Task Should_be_stopped_and_unsubscribed_when_its_last_connection_leaves_and_a_later_open_starts_a_working_hub()
    {
        var hubs = Node.Registry.Get<DocumentHubsActor>();
        var writer = Node.Registry.Get<HistoryProxy>();
        var (first, firstLink) = await OpenThroughTheNodeAsync(hubs);
        await AwaitAssertAsync(async () => Assert.Equal(1, await CountSubscribersAsync()), Patience, TimeSpan.FromMilliseconds(50));
        writer.Tell(new AppendPatch(Doc, "other", 1, 1, Text("before"), IsText: true), _writerConnection.Ref);
        Assert.Equal(["before"], await ReadAsync(firstLink, 1));

        var hub = await ParentOfAsync(first);
        Watch(hub);
        first.Tell(ConnectionActor.ClientDisconnected.Instance);
        await ExpectTerminatedAsync(hub, Patience);
        await AwaitAssertAsync(async () => Assert.Equal(0, await CountSubscribersAsync()), Patience, TimeSpan.FromMilliseconds(50));

        var (second, secondLink) = await OpenThroughTheNodeAsync(hubs);
        Assert.NotEqual(hub, await ParentOfAsync(second));
        Assert.Equal(["before"], await ReadAsync(secondLink, 1));
        writer.Tell(new AppendPatch(Doc, "other", 2, 2, Text("after"), IsText: true), _writerConnection.Ref);
        Assert.Equal(["after"], await ReadAsync(secondLink, 1));
    }

    /// <summary>Starts a hub under the spec and names <paramref name="head"/> as the sequencer would, once it subscribed.</summary>
    private async Task<IActorRef> StartHubAsync(long head, HistoryReader? reader = null, HubSettings? settings = null)
    {
        var hub = Sys.ActorOf(DocumentHubActor.Props(Doc, _mediator, _sequencer.Ref, reader ?? ReaderOf(_journal), settings ?? Settings, null));
        // The hub asks for the head once its subscription is acknowledged.
        await _sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        hub.Tell(new DocumentOpened(Doc, head), _sequencer.Ref);
        return hub;
    }

    private async Task<ClientLink> OpenAsync(IActorRef hub) => (await OpenConnectionAsync(hub)).Link;

    private async Task<(IActorRef Connection, ClientLink Link)> OpenConnectionAsync(IActorRef hub)
    {
        var link = new ClientLink(1024 * 1024, 16, maxEphemeralBytes: 1024);
        var opened = await hub.Ask<DocumentHubActor.ConnectionOpened>(
            new DocumentHubActor.OpenConnection($"c{++_connections}", link, ConnectionSettings.Default), Patience);
        return (opened.Connection, link);
    }

    private async Task<(IActorRef Connection, ClientLink Link)> OpenThroughTheNodeAsync(IActorRef hubs)
    {
        var link = new ClientLink(1024 * 1024, 16, maxEphemeralBytes: 1024);
        var opened = await hubs.Ask<DocumentHubActor.ConnectionOpened>(
            new DocumentHubsActor.OpenConnection(Doc, new DocumentHubActor.OpenConnection($"c{++_connections}", link, ConnectionSettings.Default)),
            Patience);
        return (opened.Connection, link);
    }

    private async Task<IActorRef> ParentOfAsync(IActorRef connection)
    {
        var identity = await Sys.ActorSelection(connection.Path.Parent).Ask<ActorIdentity>(new Identify(null), Patience);
        return identity.Subject ?? throw new InvalidOperationException("the connection has no parent");
    }

    private Task<int> CountSubscribersAsync() => _mediator.Ask<int>(new CountSubscribers(Doc.Topic), Patience);

    /// <summary>Waits until a hub (the only subscriber in these specs) is subscribed to the document's topic.</summary>
    private Task AwaitSubscribedAsync() =>
        AwaitAssertAsync(async () => Assert.Equal(1, await CountSubscribersAsync()), Patience, TimeSpan.FromMilliseconds(50));

    private async Task DeleteRowAsync(DocumentName document, long sequence)
    {
        var database = new SqliteConnectionStringBuilder(Node.Options.Journal.ConnectionString) { Pooling = false }.ConnectionString;
        await using var connection = new SqliteConnection(database);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM journal WHERE persistence_id = $id AND sequence_number = $sequence;";
        command.Parameters.AddWithValue("$id", document.PersistenceId);
        command.Parameters.AddWithValue("$sequence", sequence);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    private void Publish(PatchAppended patch) => _mediator.Tell(new Publish(Doc.Topic, patch));

    /// <summary>Journals <paramref name="texts"/> through the real sequencer; returns what it would have published.</summary>
    private async Task<IReadOnlyList<PatchAppended>> JournalAsync(params string[] texts)
    {
        var published = new List<PatchAppended>();
        foreach (var text in texts)
        {
            var frame = ++_frames;
            _writer.Tell(new AppendPatch(Doc, "other", frame, frame, Text(text), IsText: true), _writerConnection.Ref);
            await _writerConnection.ExpectMsgAsync<AppendPatchResponse>(Patience);
            published.Add((PatchAppended)(await _published.ExpectMsgAsync<Publish>(Patience)).Message);
        }

        return published;
    }

    private static async Task<string[]> ReadAsync(ClientLink link, int count)
    {
        var texts = new string[count];
        for (var i = 0; i < count; i++)
        {
            texts[i] = TextOf((await link.ReadSentAsync<PatchFrame>(Patience)).Payload);
        }

        return texts;
    }

    private static async Task ExpectNoOutboundAsync(IEnumerable<ClientLink> links)
    {
        var readable = await Task.WhenAll(links.Select(link => link.BecomesReadableWithinAsync(TimeSpan.FromMilliseconds(300))));
        Assert.DoesNotContain(true, readable);
    }
}
