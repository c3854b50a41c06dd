#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using System.Diagnostics;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.History;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// One connection between a real <see cref="ClientLink"/> (read as the Gateway's writer would) and a real
/// SQLite journal written by a real <see cref="HistoryActor"/>. The spec plays the document's hub (it sends
/// <see cref="ConnectionActor.Join"/> and the live patches, in order and without gaps, as the hub guarantees)
/// and a probe plays the sequencer. Filling gaps of the topic is the hub's: see <c>DocumentHubActorSpecs</c>.
/// </summary>
public sealed class ConnectionActorSpecs : RelaySpec
{
    private const string Me = "me";
    private static readonly DocumentName Doc = DocumentName.Parse("specs/connection");
    private static readonly ConnectionSettings Fast = new(
        Held: new HeldLimits(100, 1024 * 1024),
        ResendAfter: TimeSpan.FromMilliseconds(300),
        ReplayStallTimeout: TimeSpan.FromMilliseconds(500),
        DrainTimeout: TimeSpan.FromSeconds(5),
        UnavailableAfter: TimeSpan.FromSeconds(30));

    private readonly IActorRef _writer;
    private readonly TestProbe _published;
    private readonly TestProbe _writerConnection;

    public ConnectionActorSpecs(ITestOutputHelper output) : base(output)
    {
        // A real sequencer of the document fills the journal (the node's own takes the name "history"); what it
        // publishes is handed to the connection by hand, or not.
        _published = CreateTestProbe();
        _published.IgnoreMessages<Publish>(p => p.Message is HistoryHeartbeat);
        _writerConnection = CreateTestProbe();
        _writer = Sys.ActorOf(HistoryActor.Props(Doc, _published.Ref, new NodeStatus(), new HistorySettings(1_000, TimeSpan.FromMinutes(10), 1_000, TimeSpan.Zero)), "spec-sequencer");
    }

    [Fact]
    public async Task Should_replay_the_history_in_order_and_then_the_live_patches()
    {
        await JournalAsync("other", "h1", "h2", "h3");
        var (connection, link, _) = Open();
        Join(connection);

        Assert.Equal(["h1", "h2", "h3"], await ReadOutboundAsync(link, 3));

        var live = await JournalAsync("other", "live4");
        connection.Tell(new ConnectionActor.LivePatch(live[0]));
        Assert.Equal(["live4"], await ReadOutboundAsync(link, 1));
    }

    [Fact]
    public async Task Should_run_the_start_up_warm_up_of_a_tail_catch_up_to_its_end()
    {
        // The node's start-up runs it on a patch of its own into a queue nobody reads: it must end, not wait for a reader.
        await ConnectionActor.WarmUpTailCatchUpAsync().WaitAsync(Patience);
    }

    [Fact]
    public async Task Should_keep_the_frame_kind_of_each_patch()
    {
        _writer.Tell(new AppendPatch(Doc, "other", 1, 1, new byte[] { 1, 2, 3 }, IsText: false), _writerConnection.Ref);
        _writer.Tell(new AppendPatch(Doc, "other", 2, 1, Text("t"), IsText: true), _writerConnection.Ref);
        await _writerConnection.ExpectMsgAsync<AppendPatchResponse>(Patience);
        _lastSequence = (await _writerConnection.ExpectMsgAsync<AppendPatchResponse>(Patience)).Sequence;
        var (connection, link, _) = Open();
        Join(connection);

        var binary = await ReadFrameAsync(link);
        var text = await ReadFrameAsync(link);

        Assert.False(binary.IsText);
        Assert.Equal(new byte[] { 1, 2, 3 }, binary.Payload.ToArray());
        Assert.True(text.IsText);
    }

    [Fact]
    public async Task Should_skip_its_own_patches_but_move_past_them()
    {
        await JournalAsync("other", "o1");
        await JournalAsync(Me, "mine2");
        await JournalAsync("other", "o3");
        var (connection, link, _) = Open();
        Join(connection);
        Assert.Equal(["o1", "o3"], await ReadOutboundAsync(link, 2));

        var mine = await JournalAsync(Me, "mine4");
        var other = await JournalAsync("other", "o5");
        connection.Tell(new ConnectionActor.LivePatch(mine[0]));
        connection.Tell(new ConnectionActor.LivePatch(other[0]));

        Assert.Equal(["o5"], await ReadOutboundAsync(link, 1));
        await ExpectNoOutboundAsync(link);
    }

    [Fact]
    public async Task Should_not_deliver_a_live_patch_it_already_replayed()
    {
        var history = await JournalAsync("other", "h1", "h2", "h3");
        var (connection, link, _) = Open();
        Join(connection);
        Assert.Equal(["h1", "h2", "h3"], await ReadOutboundAsync(link, 3));

        connection.Tell(new ConnectionActor.LivePatch(history[1]));
        connection.Tell(new ConnectionActor.LivePatch(history[2]));
        var live = await JournalAsync("other", "live4");
        connection.Tell(new ConnectionActor.LivePatch(live[0]));

        Assert.Equal(["live4"], await ReadOutboundAsync(link, 1));
        await ExpectNoOutboundAsync(link);
    }

    [Fact]
    public async Task Should_deliver_the_live_patches_that_came_during_the_replay_after_it_each_once()
    {
        var history = await JournalAsync("other", "h1", "h2", "h3");
        var live = await JournalAsync("other", "live4", "live5");
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, _) = Open(journal: journal);

        // As the hub does: the head, then every later patch at once, while the replay is still reading.
        Join(connection, head: 3);
        connection.Tell(new ConnectionActor.LivePatch(live[0]));
        connection.Tell(new ConnectionActor.LivePatch(live[1]));

        Assert.Equal(["h1", "h2", "h3", "live4", "live5"], await ReadOutboundAsync(link, 5));
        await ExpectNoOutboundAsync(link);
        Assert.Equal([(1L, 3L)], journal.Reads);
        Assert.Equal(3, history.Count);
    }

    [Fact]
    public async Task Should_read_again_from_the_journal_what_it_could_not_hold_during_the_replay()
    {
        // A 10-byte link holds the first patch of the replay; the second waits for room, so the replay is caught running.
        await JournalAsync("other", "hist-1", "hist-2");
        var live = await JournalAsync("other", "p3", "p4", "p5");
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, _) = Open(maxOutboundBytes: 10, journal: journal, settings: Fast with { Held = new HeldLimits(1, 1024 * 1024), ReplayStallTimeout = Patience });
        Join(connection, head: 2);
        await AwaitAssertAsync(async () => Assert.NotEqual(0, await CountChildrenAsync(connection)), Patience, TimeSpan.FromMilliseconds(50));

        // More live patches than it may hold while the replay is stalled: they are read from the journal instead.
        foreach (var patch in live)
        {
            connection.Tell(new ConnectionActor.LivePatch(patch));
        }

        Assert.Equal(["hist-1", "hist-2", "p3", "p4", "p5"], await ReadOutboundAsync(link, 5));
        Assert.Equal([(1L, 2L), (3L, 5L)], journal.Reads);

        var next = await JournalAsync("other", "p6");
        connection.Tell(new ConnectionActor.LivePatch(next[0]));
        Assert.Equal(["p6"], await ReadOutboundAsync(link, 1));
        await ExpectNoOutboundAsync(link);
    }

    [Fact]
    public async Task Should_keep_no_child_actor_once_its_catch_ups_are_done()
    {
        // A 10-byte link holds the first patch of the replay; the second waits for room, so the replay is caught running.
        await JournalAsync("other", "hist-1", "hist-2");
        var live = await JournalAsync("other", "p3", "p4", "p5");
        var (connection, link, _) = Open(maxOutboundBytes: 10, settings: Fast with { Held = new HeldLimits(1, 1024 * 1024), ReplayStallTimeout = Patience });
        Join(connection, head: 2);
        await AwaitAssertAsync(async () => Assert.NotEqual(0, await CountChildrenAsync(connection)), Patience, TimeSpan.FromMilliseconds(50));
        foreach (var patch in live)
        {
            connection.Tell(new ConnectionActor.LivePatch(patch));
        }

        Assert.Equal(["hist-1", "hist-2", "p3", "p4", "p5"], await ReadOutboundAsync(link, 5));

        // Two reads (the replay and the re-read after the overflow) ran; a live connection keeps nothing of them.
        await AwaitAssertAsync(async () => Assert.Equal(0, await CountChildrenAsync(connection)), Patience, TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task Should_go_live_without_reading_the_journal_when_the_hub_has_seen_nothing()
    {
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, _) = Open(journal: journal);
        Join(connection, head: 0);

        var live = await JournalAsync("other", "live1", "live2");
        connection.Tell(new ConnectionActor.LivePatch(live[0]));
        connection.Tell(new ConnectionActor.LivePatch(live[1]));

        Assert.Equal(["live1", "live2"], await ReadOutboundAsync(link, 2));
        Assert.Empty(journal.Reads);
        Assert.Equal(0, await CountChildrenAsync(connection));
    }

    [Fact]
    public async Task Should_replay_exactly_up_to_the_hubs_last_sequence_and_take_the_rest_live()
    {
        var patches = await JournalAsync("other", "h1", "h2", "h3", "h4", "h5");
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, _) = Open(journal: journal);

        // The hub's head was 3 when the connection joined; 4 and 5 reach the connection live.
        Join(connection, head: 3);
        connection.Tell(new ConnectionActor.LivePatch(patches[3]));
        Assert.Equal(["h1", "h2", "h3", "h4"], await ReadOutboundAsync(link, 4));
        // 5 is journaled, but nothing said it exists: it comes live, not from the journal.
        await ExpectNoOutboundAsync(link);

        connection.Tell(new ConnectionActor.LivePatch(patches[4]));
        Assert.Equal(["h5"], await ReadOutboundAsync(link, 1));
        await ExpectNoOutboundAsync(link);
        Assert.Equal([(1L, 3L)], journal.Reads);
    }

    [Fact]
    public async Task Should_deliver_the_live_patches_that_came_while_a_named_client_waited_for_its_last_id_when_it_resumes_at_the_head()
    {
        // A relay.v1 client named "me" resumes after 3, the hub's head: its join waits for the sequencer's answer
        // (its last id), and the hub's next patches reach the connection before that answer does (after a failover the
        // sequencer answers late). They follow the head without a gap: each is delivered, once, in order.
        var patches = await JournalAsync("other", "h1", "h2", "h3", "live4", "live5");
        var (connection, link, sequencer) = Open(protocol: new ClientProtocol(true, Me, ResumeAfter: 3, ResumeEpoch: 7));
        var asked = await sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        Join(connection, head: 3, epoch: 7);
        connection.Tell(new ConnectionActor.LivePatch(patches[3]));
        connection.Tell(new ConnectionActor.LivePatch(patches[4]));
        connection.Tell(new DocumentOpened(Doc, 5, 7), sequencer.Ref);

        var hello = await link.ReadSentAsync<HelloFrame>(Patience);
        Assert.True(hello.Resumed, $"{asked.Client}'s hello did not resume");
        Assert.Equal(["live4", "live5"], await ReadOutboundAsync(link, 2));

        var live = await JournalAsync("other", "live6");
        connection.Tell(new ConnectionActor.LivePatch(live[0]));
        Assert.Equal(["live6"], await ReadOutboundAsync(link, 1));
        await ExpectNoOutboundAsync(link);
    }

    [Fact]
    public async Task Should_deliver_the_live_patches_that_came_while_a_named_client_waited_for_its_last_id_on_an_empty_history()
    {
        var patches = await JournalAsync("other", "live1", "live2");
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, sequencer) = Open(journal: journal, protocol: new ClientProtocol(true, Me));
        await sequencer.ExpectMsgAsync<OpenDocument>(Patience);
        Join(connection, head: 0, epoch: 7);
        connection.Tell(new ConnectionActor.LivePatch(patches[0]));
        connection.Tell(new ConnectionActor.LivePatch(patches[1]));
        connection.Tell(new DocumentOpened(Doc, 2, 7), sequencer.Ref);

        Assert.False((await link.ReadSentAsync<HelloFrame>(Patience)).Resumed);
        Assert.Equal(["live1", "live2"], await ReadOutboundAsync(link, 2));
        await ExpectNoOutboundAsync(link);
        Assert.Empty(journal.Reads);
    }

    [Fact]
    public async Task Should_run_on_the_connection_mailbox()
    {
        var (connection, _, _) = Open();
        // Identified, so started: a top-level actor has its real cell only once the guardian created it.
        connection.Tell(new Identify("started"));
        await ExpectMsgAsync<ActorIdentity>(Patience);

        var cell = Assert.IsAssignableFrom<ActorRefWithCell>(connection).Underlying;
        Assert.IsType<ConnectionMailbox.LeanMessageQueue>(Assert.IsType<ActorCell>(cell).Mailbox?.MessageQueue);
    }

    [Fact]
    public async Task Should_send_client_frames_to_the_sequencer_numbered_from_one_with_the_first_unconfirmed()
    {
        var (connection, link, history) = Open();
        Join(connection);

        await SendAsync(link, connection, Text("f1"), true);
        await SendAsync(link, connection, Text("f2"), true);
        await SendAsync(link, connection, new byte[] { 3 }, false);

        var appends = new[]
        {
            await history.ExpectMsgAsync<AppendPatch>(Patience),
            await history.ExpectMsgAsync<AppendPatch>(Patience),
            await history.ExpectMsgAsync<AppendPatch>(Patience),
        };
        Assert.All(appends, a => Assert.Equal(Me, a.ConnectionId));
        Assert.Equal([1L, 2, 3], appends.Select(a => a.FrameNo));
        Assert.Equal([1L, 1, 1], appends.Select(a => a.FirstUnconfirmed));
        Assert.Equal([true, true, false], appends.Select(a => a.IsText));
        Assert.Equal("f2", TextOf(appends[1].Payload));

        connection.Tell(new AppendPatchResponse(Me, 2, 7), history.Ref);
        await SendAsync(link, connection, Text("f4"), true);
        var fourth = await history.ExpectMsgAsync<AppendPatch>(Patience);
        Assert.Equal((4L, 3L), (fourth.FrameNo, fourth.FirstUnconfirmed));
    }

    [Fact]
    public async Task Should_resend_unconfirmed_appends_in_order_and_return_credits_on_confirmation()
    {
        var (connection, link, history) = Open(maxInFlight: 2);
        Join(connection);

        // The Gateway's reader takes a credit per frame; the third has to wait for the journal.
        await SendAsync(link, connection, Text("f1"), true);
        await SendAsync(link, connection, Text("f2"), true);
        var third = link.AcquireCreditsForAsync(1).AsTask();

        Assert.Equal(1, (await history.ExpectMsgAsync<AppendPatch>(Patience)).FrameNo);
        Assert.Equal(2, (await history.ExpectMsgAsync<AppendPatch>(Patience)).FrameNo);
        var resent = new[] { await history.ExpectMsgAsync<AppendPatch>(Patience), await history.ExpectMsgAsync<AppendPatch>(Patience) };
        Assert.Equal([(1L, 1L), (2L, 1L)], resent.Select(a => (a.FrameNo, a.FirstUnconfirmed)));
        Assert.False(third.IsCompleted);

        connection.Tell(new AppendPatchResponse(Me, 2, 2), history.Ref);

        await third.WaitAsync(Patience);
        // Confirmed: no more resends, though three resend periods pass.
        await history.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(900));
    }

    [Fact]
    public async Task Should_close_a_slow_reader_when_its_outbound_bytes_run_over()
    {
        var (connection, link, _) = Open(maxOutboundBytes: 10);
        Join(connection);
        Watch(connection);

        // Nobody reads the link: six bytes fit, twelve do not.
        var live = await JournalAsync("other", "live-1", "live-2");
        connection.Tell(new ConnectionActor.LivePatch(live[0]));
        connection.Tell(new ConnectionActor.LivePatch(live[1]));

        var closed = await link.Closed.WaitAsync(Patience);
        Assert.Equal(CloseReason.SlowConsumer, closed);
        await ExpectTerminatedAsync(connection, Patience);
    }

    [Fact]
    public async Task Should_not_close_a_reading_client_when_the_live_patches_held_during_its_replay_of_large_patches_do_not_fit_at_once()
    {
        // The shape of MetricsAndHealthSpecs' flake: a 256 KB queue, a history of 60 KB patches, and large live patches
        // that came while the connection read it. The replay leaves the queue near half its limit (it waits for that, then
        // adds a patch); the held patches are then more than the rest of the queue takes at once.
        const int patchBytes = 60 * 1024;
        const int historyCount = 20;
        const int liveCount = 6;
        await JournalBinaryAsync("other", historyCount, patchBytes);
        var live = await JournalBinaryAsync("other", liveCount, patchBytes);
        var journal = new RecordingPatchJournal(PatchJournal);
        var (connection, link, _) = Open(maxOutboundBytes: 256 * 1024, journal: journal, settings: Fast with { ReplayStallTimeout = Patience });
        Join(connection, head: historyCount);

        // Nobody reads yet: the replay stalls on the full queue, so the live patches are surely held, not delivered live.
        await AwaitAssertAsync(() => Assert.True(link.PendingBytes > 128 * 1024), Patience, TimeSpan.FromMilliseconds(20));
        foreach (var patch in live)
        {
            connection.Tell(new ConnectionActor.LivePatch(patch));
        }

        // Then the client reads steadily, as RelayClient does, until it has everything.
        var sequences = new List<long>();
        for (var i = 0; i < historyCount + liveCount; i++)
        {
            var frame = await link.ReadSentAsync<PatchFrame>(Patience).ContinueWith(t => t, TaskScheduler.Default);
            if (!frame.IsCompletedSuccessfully)
            {
                var reason = link.Closed.IsCompleted ? (await link.Closed).ToString() : "not closed";
                Assert.Fail($"after {sequences.Count} frames: {reason}");
            }

            sequences.Add((await frame).Sequence);
        }

        Assert.False(link.Closed.IsCompleted, "the client was closed though it read everything");
        Assert.Equal(Enumerable.Range(1, historyCount + liveCount).Select(n => (long)n), sequences);
        await ExpectNoOutboundAsync(link);

        // And it is live afterwards.
        var next = await JournalBinaryAsync("other", 1, patchBytes);
        connection.Tell(new ConnectionActor.LivePatch(next[0]));
        Assert.Equal(historyCount + liveCount + 1, (await ReadFrameAsync(link)).Sequence);
    }

    [Fact]
    public async Task Should_still_close_a_client_that_stops_reading_while_its_held_patches_are_read_from_the_journal()
    {
        const int patchBytes = 60 * 1024;
        await JournalBinaryAsync("other", 20, patchBytes);
        var live = await JournalBinaryAsync("other", 6, patchBytes);
        var (connection, link, _) = Open(maxOutboundBytes: 256 * 1024, settings: Fast with { ReplayStallTimeout = TimeSpan.FromSeconds(1) });
        Join(connection, head: 20);
        await AwaitAssertAsync(() => Assert.True(link.PendingBytes > 128 * 1024), Patience, TimeSpan.FromMilliseconds(20));
        foreach (var patch in live)
        {
            connection.Tell(new ConnectionActor.LivePatch(patch));
        }

        Watch(connection);

        // The client reads its history, then nothing: the held patches that did not fit wait in the journal, the read of
        // them stalls, and the client is closed as a slow consumer after the stall timeout, its queue never over the limit.
        for (var i = 0; i < 20; i++)
        {
            await ReadFrameAsync(link);
        }

        Assert.Equal(CloseReason.SlowConsumer, await link.Closed.WaitAsync(Patience));
        await ExpectTerminatedAsync(connection, Patience);
    }

    [Fact]
    public async Task Should_close_a_reader_that_stalls_its_replay_as_a_slow_consumer()
    {
        await JournalAsync("other", "hist-1", "hist-2", "hist-3");
        var (connection, link, _) = Open(maxOutboundBytes: 10);
        Join(connection);

        var closed = await link.Closed.WaitAsync(Patience);

        Assert.Equal(CloseReason.SlowConsumer, closed);
    }

    [Fact]
    public async Task Should_close_as_unavailable_when_the_sequencer_confirms_nothing_for_too_long_and_keep_resending()
    {
        var (connection, link, history) = Open(settings: Fast with { UnavailableAfter = TimeSpan.FromSeconds(1.5) });
        Join(connection);
        await SendAsync(link, connection, Text("stuck"), true);

        // The journal is down: the sequencer never answers; the frame is resent, and after the limit the client is told to come back later.
        Assert.Equal("stuck", TextOf((await history.ExpectMsgAsync<AppendPatch>(Patience)).Payload));
        var closed = await link.Closed.WaitAsync(Patience);
        Assert.Equal(CloseReason.Unavailable, closed);

        // The frame is not given up on: the draining connection still resends it until it is confirmed.
        Watch(connection);
        connection.Tell(ConnectionActor.ClientDisconnected.Instance);
        var resent = await history.FishForMessageAsync<AppendPatch>(_ => true, Patience);
        Assert.Equal("stuck", TextOf(resent.Payload));
        connection.Tell(new AppendPatchResponse(Me, 1, 1), history.Ref);
        await ExpectTerminatedAsync(connection, Patience);
    }

    [Fact]
    public async Task Should_stay_open_through_an_outage_shorter_than_the_limit()
    {
        var (connection, link, history) = Open(settings: Fast with { UnavailableAfter = TimeSpan.FromSeconds(3) });
        Join(connection);
        await SendAsync(link, connection, Text("slow"), true);
        await history.ExpectMsgAsync<AppendPatch>(Patience);

        // Confirmed after a second and a half of resends: no close, and no more resends, though the limit passes.
        var outage = Stopwatch.StartNew();
        while (outage.Elapsed < TimeSpan.FromSeconds(1.5))
        {
            Assert.Equal("slow", TextOf((await history.ExpectMsgAsync<AppendPatch>(Patience)).Payload));
        }

        connection.Tell(new AppendPatchResponse(Me, 1, 1), history.Ref);
        await history.ExpectNoMsgAsync(TimeSpan.FromSeconds(2));
        Assert.False(link.Closed.IsCompleted);
    }

    [Fact]
    public async Task Should_stop_when_the_client_leaves_with_nothing_unconfirmed()
    {
        var (connection, link, _) = Open();
        Join(connection);
        Watch(connection);

        connection.Tell(ConnectionActor.ClientDisconnected.Instance);

        await ExpectTerminatedAsync(connection, Patience);
        Assert.Equal(CloseReason.Ended, await link.Closed.WaitAsync(Patience));
    }

    [Fact]
    public async Task Should_stay_until_its_last_append_is_confirmed_after_the_client_left()
    {
        var (connection, link, history) = Open();
        Join(connection);
        Watch(connection);
        await SendAsync(link, connection, Text("last words"), true);
        await history.ExpectMsgAsync<AppendPatch>(Patience);

        connection.Tell(ConnectionActor.ClientDisconnected.Instance);
        // Still resending while it drains.
        var resent = await history.ExpectMsgAsync<AppendPatch>(Patience);
        Assert.Equal("last words", TextOf(resent.Payload));

        connection.Tell(new AppendPatchResponse(Me, 1, 1), history.Ref);
        await ExpectTerminatedAsync(connection, Patience);
    }

    private (IActorRef Connection, ClientLink Link, TestProbe Sequencer) Open(
        long maxOutboundBytes = 1024 * 1024,
        int maxInFlight = 16,
        IPatchJournal? journal = null,
        ConnectionSettings? settings = null,
        ClientProtocol? protocol = null)
    {
        var link = new ClientLink(maxOutboundBytes, maxInFlight, maxEphemeralBytes: 1024);
        var history = CreateTestProbe();
        var connection = Sys.ActorOf(
            ConnectionActor.Props(Doc, Me, link, history.Ref, ReaderOf(journal), settings ?? Fast, protocol),
            "connection-" + Me);
        return (connection, link, history);
    }

    /// <summary>The connection's children (a catch-up's materializer is one), counted by who answers an Identify.</summary>
    private async Task<int> CountChildrenAsync(IActorRef connection)
    {
        var identify = CreateTestProbe();
        Sys.ActorSelection(connection.Path / "*").Tell(new Identify("child"), identify.Ref);
        var children = 0;
        while (await identify.ReceiveOneAsync(TimeSpan.FromMilliseconds(300)) is ActorIdentity { Subject: not null })
        {
            children++;
        }

        return children;
    }

    /// <summary>As the Gateway's reader does: take a credit, then hand the frame to the actor.</summary>
    private static async Task SendAsync(ClientLink link, IActorRef connection, ReadOnlyMemory<byte> payload, bool isText)
    {
        var credits = await link.AcquireCreditsForAsync(payload.Length).AsTask().WaitAsync(Patience);
        connection.Tell(new ConnectionActor.ClientFrame(payload, isText, 0, credits));
    }

    /// <summary>As the hub does: names its head, by default the highest sequence journaled so far; every later patch is the spec's to send.</summary>
    private void Join(IActorRef connection, long? head = null, long epoch = 0) => connection.Tell(new ConnectionActor.Join(head ?? _lastSequence, epoch));

    private readonly Dictionary<string, long> _framesOf = new();
    private long _lastSequence;

    /// <summary>Journals <paramref name="texts"/> as <paramref name="origin"/>'s next frames; returns what the sequencer published.</summary>
    private async Task<IReadOnlyList<PatchAppended>> JournalAsync(string origin, params string[] texts)
    {
        var published = new List<PatchAppended>();
        foreach (var text in texts)
        {
            published.Add(await JournalOneAsync(origin, Text(text), isText: true));
        }

        return published;
    }

    /// <summary>Journals <paramref name="count"/> binary patches of <paramref name="bytes"/> each as <paramref name="origin"/>'s next frames.</summary>
    private async Task<IReadOnlyList<PatchAppended>> JournalBinaryAsync(string origin, int count, int bytes)
    {
        var published = new List<PatchAppended>();
        for (var i = 0; i < count; i++)
        {
            published.Add(await JournalOneAsync(origin, new byte[bytes], isText: false));
        }

        return published;
    }

    /// <summary>Journals one patch as <paramref name="origin"/>'s next frame; returns what the sequencer published.</summary>
    private async Task<PatchAppended> JournalOneAsync(string origin, ReadOnlyMemory<byte> payload, bool isText)
    {
        var frame = _framesOf[origin] = _framesOf.GetValueOrDefault(origin) + 1;
        _writer.Tell(new AppendPatch(Doc, origin, frame, frame, payload, isText), _writerConnection.Ref);
        _lastSequence = (await _writerConnection.ExpectMsgAsync<AppendPatchResponse>(Patience)).Sequence;
        return (PatchAppended)(await _published.ExpectMsgAsync<Publish>(Patience)).Message;
    }

    private static Task<PatchFrame> ReadFrameAsync(ClientLink link) => link.ReadSentAsync<PatchFrame>(Patience);

    private static async Task<string[]> ReadOutboundAsync(ClientLink link, int count)
    {
        var texts = new string[count];
        for (var i = 0; i < count; i++)
        {
            texts[i] = TextOf((await ReadFrameAsync(link)).Payload);
        }

        return texts;
    }

    private static async Task ExpectNoOutboundAsync(ClientLink link) =>
        Assert.False(await link.BecomesReadableWithinAsync(TimeSpan.FromMilliseconds(300)), "the client got a frame it should not have");
}
