#nullable enable
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Pattern;
using Akka.Persistence;
using Akka.TestKit;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.History;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// One document's sequencer on the node's real SQLite journal, started by the spec rather than by a placement;
/// a probe stands in for the DistributedPubSub mediator. The document is not the default one, whose sequencer
/// the node runs itself.
/// </summary>
public sealed class HistoryActorSpecs : RelaySpec
{
    // Heartbeats are announced once at start and then rarely, so they stay out of the way unless a spec wants them.
    private static readonly HistorySettings Quiet = new(SnapshotEvery: 1_000, HeartbeatInterval: TimeSpan.FromMinutes(10), MaxCursors: 1_000, PassivateAfter: TimeSpan.Zero);
    private static readonly DocumentName Doc = DocumentName.Parse("specs/history");

    // The sequencers this spec starts report here, not to the node's own status.
    private readonly NodeStatus _status = new();

    public HistoryActorSpecs(ITestOutputHelper output) : base(output)
    {
    }

    [Fact]
    public async Task Should_number_patches_one_to_n_in_arrival_order()
    {
        var (history, publisher) = StartHistory(Quiet);

        history.Tell(Append("a", 1, 1, "a1"));
        history.Tell(Append("b", 1, 1, "b1"));
        history.Tell(Append("a", 2, 1, "a2"));
        history.Tell(Append("b", 2, 1, "b2"));
        history.Tell(Append("c", 1, 1, "c1"));

        var published = new List<PatchAppended>();
        for (var i = 0; i < 5; i++)
        {
            published.Add(await ExpectPublishedPatchAsync(publisher));
        }

        Assert.Equal([1L, 2, 3, 4, 5], published.Select(p => p.Sequence));
        Assert.Equal(["a1", "b1", "a2", "b2", "c1"], published.Select(p => TextOf(p.Payload)));
        var journal = await ReadJournalAsync(Doc);
        Assert.Equal([1L, 2, 3, 4, 5], journal.Select(p => p.Sequence));
        Assert.Equal(["a1", "b1", "a2", "b2", "c1"], journal.Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_publish_the_patches_of_one_write_together_in_order()
    {
        const int frames = 200;
        var (history, publisher) = StartHistory(Quiet);

        // All at once: while the first writes are in flight the rest gather into bigger ones.
        for (var frame = 1; frame <= frames; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"));
        }

        var messages = new List<object>();
        var sequences = new List<long>();
        while (sequences.Count < frames)
        {
            var publish = await publisher.ExpectMsgAsync<Publish>(Patience);
            Assert.Equal(Doc.Topic, publish.Topic);
            messages.Add(publish.Message);
            sequences.AddRange(publish.Message switch
            {
                PatchAppended patch => [patch.Sequence],
                PatchesAppended group => group.Patches.Select(p => p.Sequence),
                var other => throw new Xunit.Sdk.XunitException($"Expected published patches, got {other}"),
            });
        }

        Assert.Equal(Enumerable.Range(1, frames).Select(s => (long)s), sequences);
        Assert.Contains(messages, message => message is PatchesAppended { Patches.Count: > 1 });
        Assert.True(messages.Count < frames, $"{messages.Count} messages for {frames} patches");
        await publisher.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Should_group_published_patches_under_the_size_limit_and_send_a_big_one_alone()
    {
        PatchAppended Patch(long sequence, int bytes) => new(sequence, "a", sequence, new byte[bytes], IsText: false);
        var small = PatchesAppended.MaxBytes / 4;
        var patches = new[] { Patch(1, small), Patch(2, small), Patch(3, small), Patch(4, small), Patch(5, PatchesAppended.MaxBytes * 2), Patch(6, 10) };

        var messages = PatchesAppended.Group(patches);

        // 1-3 fit under the limit with each patch's allowance, 4 does not; 5 is over the limit on its own; 6 is alone.
        Assert.Collection(
            messages,
            first => Assert.Equal([1L, 2, 3], Assert.IsType<PatchesAppended>(first).Patches.Select(p => p.Sequence)),
            second => Assert.Equal(4, Assert.IsType<PatchAppended>(second).Sequence),
            third => Assert.Equal(5, Assert.IsType<PatchAppended>(third).Sequence),
            fourth => Assert.Equal(6, Assert.IsType<PatchAppended>(fourth).Sequence));
        Assert.All(messages.OfType<PatchesAppended>(), group => Assert.True(group.Patches.Sum(PatchesAppended.SizeOf) <= PatchesAppended.MaxBytes));
        Assert.IsType<PatchAppended>(Assert.Single(PatchesAppended.Group([Patch(1, 1)])));
        Assert.Empty(PatchesAppended.Group([]));
    }

    [Fact]
    public async Task Should_publish_a_patch_only_once_it_is_readable_from_the_journal()
    {
        var (history, publisher) = StartHistory(Quiet);

        for (var frame = 1; frame <= 5; frame++)
        {
            history.Tell(Append("a", frame, 1, $"p{frame}"));
        }

        for (var sequence = 1; sequence <= 5; sequence++)
        {
            var published = await ExpectPublishedPatchAsync(publisher);
            Assert.Equal(sequence, published.Sequence);

            // Read at the moment of publication: the journal already has it, with the same content.
            var journaled = (await ReadJournalAsync(Doc)).SingleOrDefault(p => p.Sequence == sequence);
            Assert.NotNull(journaled);
            Assert.Equal(TextOf(published.Payload), TextOf(journaled.Payload));
            Assert.Equal(("a", (long)sequence, true), (journaled.OriginConnectionId, journaled.FrameNo, journaled.IsText));
        }
    }

    [Fact]
    public async Task Should_confirm_each_append_to_its_sender_with_its_sequence()
    {
        var (history, _) = StartHistory(Quiet);
        var connectionA = CreateTestProbe();
        var connectionB = CreateTestProbe();

        history.Tell(Append("a", 1, 1, "a1"), connectionA.Ref);
        history.Tell(Append("b", 1, 1, "b1"), connectionB.Ref);
        history.Tell(Append("a", 2, 1, "a2"), connectionA.Ref);

        Assert.Equal(new AppendPatchResponse("a", 1, 1), await connectionA.ExpectMsgAsync<AppendPatchResponse>(Patience));
        Assert.Equal(new AppendPatchResponse("a", 2, 3), await connectionA.ExpectMsgAsync<AppendPatchResponse>(Patience));
        Assert.Equal(new AppendPatchResponse("b", 1, 2), await connectionB.ExpectMsgAsync<AppendPatchResponse>(Patience));
    }

    [Fact]
    public async Task Should_confirm_a_duplicate_again_but_journal_and_publish_it_once()
    {
        var (history, publisher) = StartHistory(Quiet);

        history.Tell(Append("a", 1, 1, "a1"));
        Assert.Equal(new AppendPatchResponse("a", 1, 1), await ExpectMsgAsync<AppendPatchResponse>(Patience));
        Assert.Equal(1, (await ExpectPublishedPatchAsync(publisher)).Sequence);

        history.Tell(Append("a", 1, 1, "a1"));
        Assert.Equal(new AppendPatchResponse("a", 1, 1), await ExpectMsgAsync<AppendPatchResponse>(Patience));

        // Had the duplicate been published, it would come before the next patch.
        history.Tell(Append("a", 2, 2, "a2"));
        var next = await ExpectPublishedPatchAsync(publisher);
        Assert.Equal((2L, 2L), (next.Sequence, next.FrameNo));
        Assert.Equal(["a1", "a2"], (await ReadJournalAsync(Doc)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_answer_the_server_api_with_the_epoch_and_refuse_a_moved_head_with_the_journaled_head()
    {
        var (history, _) = StartHistory(Quiet);
        history.Tell(Append("a", 1, 1, "a1"));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);

        history.Tell(Append("api/x", 1, 1, "x1") with { FromApi = true, ExpectedHead = 1 });
        var journaled = await ExpectMsgAsync<AppendPatchResponse>(Patience);
        Assert.Equal((AppendOutcome.Journaled, 2L), (journaled.Outcome, journaled.Sequence));
        Assert.NotEqual(0, journaled.Epoch);

        history.Tell(Append("api/y", 1, 1, "y1") with { FromApi = true, ExpectedHead = 1 });
        var moved = await ExpectMsgAsync<AppendPatchResponse>(Patience);
        Assert.Equal((AppendOutcome.HeadMoved, 2L, journaled.Epoch), (moved.Outcome, moved.Sequence, moved.Epoch));

        // The retry of the first one is answered as it was, though the head it named has moved since.
        history.Tell(Append("api/x", 1, 1, "x1") with { FromApi = true, ExpectedHead = 1 });
        Assert.Equal(journaled, await ExpectMsgAsync<AppendPatchResponse>(Patience));
        Assert.Equal(["a1", "x1"], (await ReadJournalAsync(Doc)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_tell_the_server_api_of_an_id_out_of_order_instead_of_waiting_for_a_resend()
    {
        var (history, _) = StartHistory(Quiet);
        history.Tell(Append("client/b", 1, 1, "b1") with { FromApi = true });
        await ExpectMsgAsync<AppendPatchResponse>(Patience);

        history.Tell(Append("client/b", 3, 3, "b3") with { FromApi = true });
        var refused = await ExpectMsgAsync<AppendPatchResponse>(Patience);
        Assert.Equal((AppendOutcome.OutOfOrder, 1L), (refused.Outcome, refused.JournaledFrame));
        Assert.Equal(["b1"], (await ReadJournalAsync(Doc)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_ignore_an_out_of_order_frame_until_the_missing_one_arrives()
    {
        var (history, publisher) = StartHistory(Quiet);
        history.Tell(Append("a", 1, 1, "a1"));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);

        // Frame 2 was lost on the way; frame 3 must not overtake it.
        history.Tell(Append("a", 3, 2, "a3"));
        history.Tell(Append("a", 2, 2, "a2"));
        Assert.Equal(new AppendPatchResponse("a", 2, 2), await ExpectMsgAsync<AppendPatchResponse>(Patience));

        // The connection resends frame 3 in order.
        history.Tell(Append("a", 3, 3, "a3"));
        Assert.Equal(new AppendPatchResponse("a", 3, 3), await ExpectMsgAsync<AppendPatchResponse>(Patience));

        Assert.Equal(["a1", "a2", "a3"], (await ReadJournalAsync(Doc)).Select(p => TextOf(p.Payload)));
        Assert.Equal(1, (await ExpectPublishedPatchAsync(publisher)).FrameNo);
        Assert.Equal(2, (await ExpectPublishedPatchAsync(publisher)).FrameNo);
        Assert.Equal(3, (await ExpectPublishedPatchAsync(publisher)).FrameNo);
    }

    [Fact]
    public async Task Should_continue_numbering_and_deduplication_after_a_restart_on_the_same_file()
    {
        var (history, _) = StartHistory(Quiet);
        history.Tell(Append("a", 1, 1, "a1"));
        history.Tell(Append("a", 2, 1, "a2"));
        history.Tell(Append("b", 1, 1, "b1"));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        await StopAsync(history);

        // A second node on the same file: nothing survives but the journal.
        var second = SpecNode.Start(folder: Node.Folder);
        try
        {
            var publisher = CreateTestProbe(second.System);
            publisher.IgnoreMessages<Publish>(p => p.Message is HistoryHeartbeat);
            var connection = CreateTestProbe(second.System);
            var restarted = second.System.ActorOf(HistoryActor.Props(Doc, publisher.Ref, second.Status, Quiet));

            restarted.Tell(Append("a", 2, 2, "a2"), connection.Ref);
            Assert.Equal(new AppendPatchResponse("a", 2, 2), await connection.ExpectMsgAsync<AppendPatchResponse>(Patience));
            restarted.Tell(Append("b", 2, 2, "b2"), connection.Ref);
            Assert.Equal(new AppendPatchResponse("b", 2, 4), await connection.ExpectMsgAsync<AppendPatchResponse>(Patience));

            var published = await ExpectPublishedPatchAsync(publisher);
            Assert.Equal((4L, "b", 2L), (published.Sequence, published.OriginConnectionId, published.FrameNo));
        }
        finally
        {
            await second.DisposeAsync();
        }

        Assert.Equal(["a1", "a2", "b1", "b2"], (await ReadJournalAsync(Doc)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_snapshot_every_n_patches_and_recover_from_the_snapshot_and_the_tail()
    {
        var settings = Quiet with { SnapshotEvery = 3 };
        var (history, _) = StartHistory(settings);
        for (var frame = 1; frame <= 6; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"));
        }

        history.Tell(Append("b", 1, 1, "b1"));
        for (var i = 0; i < 7; i++)
        {
            await ExpectMsgAsync<AppendPatchResponse>(Patience);
        }

        // The snapshot after patch 6 replaces the one after patch 3.
        var snapshot = await AwaitLatestSnapshotAsync(6);
        Assert.Equal(6, snapshot.LastSequence);
        Assert.Contains(snapshot.Cursors, c => (c.ConnectionId, c.FrameNo, c.Sequence) == ("a", 6, 6) && c.PayloadHash != 0);
        await StopAsync(history);

        // Without events 1..6 only the snapshot can tell the restarted sequencer about connection a.
        Persistence.Instance.Apply(Sys).JournalFor(null).Tell(new DeleteMessagesTo(Doc.PersistenceId, 6, TestActor));
        await ExpectMsgAsync<DeleteMessagesSuccess>(Patience);

        var (restarted, publisher) = StartHistory(settings);
        // A frame below a's last is behind it (journaled nothing, confirms nothing); a's last again, with its payload, is a resend.
        restarted.Tell(Append("a", 3, 3, "a3"));
        Assert.Equal(
            new AppendPatchResponse("a", 3, 6) { Outcome = AppendOutcome.Behind, JournaledFrame = 6 },
            await ExpectMsgAsync<AppendPatchResponse>(Patience));
        restarted.Tell(Append("a", 6, 3, "a6"));
        Assert.Equal(new AppendPatchResponse("a", 6, 6), await ExpectMsgAsync<AppendPatchResponse>(Patience));
        restarted.Tell(Append("b", 2, 2, "b2"));
        Assert.Equal(new AppendPatchResponse("b", 2, 8), await ExpectMsgAsync<AppendPatchResponse>(Patience));
        var published = await ExpectPublishedPatchAsync(publisher);
        Assert.Equal((8L, "b"), (published.Sequence, published.OriginConnectionId));
    }

    [Fact]
    public async Task Should_snapshot_once_the_payloads_since_the_last_snapshot_reach_the_byte_bound()
    {
        // Large patches: a count of 1,000 would come far too late, the byte bound of 10,000 decides.
        var settings = Quiet with { SnapshotEveryBytes = 10_000 };
        var (history, _) = StartHistory(settings);
        var payload = new string('x', 4_000);
        for (var frame = 1; frame <= 5; frame++)
        {
            history.Tell(Append("a", frame, 1, payload));
            await ExpectMsgAsync<AppendPatchResponse>(Patience);
        }

        // 3 x 4,000 bytes reach the bound; patches 4 and 5 (8,000 bytes) do not yet.
        Assert.Equal(3, (await AwaitLatestSnapshotAsync(3)).LastSequence);
        history.Tell(Append("a", 6, 6, payload));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        Assert.Equal(6, (await AwaitLatestSnapshotAsync(6)).LastSequence);
    }

    [Fact]
    public async Task Should_journal_each_frame_exactly_once_when_restarted_between_write_and_confirmation()
    {
        const int frames = 20;
        var connection = CreateTestProbe();
        var publisher = CreateTestProbe();
        var history = Sys.ActorOf(HistoryActor.Props(Doc, publisher.Ref, _status, Quiet));
        // The first heartbeat comes after recovery, so the appends below are handled, not stashed.
        await publisher.FishForMessageAsync<Publish>(p => p.Message is HistoryHeartbeat, Patience);

        // The PoisonPill is handled right after the last append has started its write: the sequencer is
        // gone while its writes are in flight and before it confirmed them.
        for (var frame = 1; frame <= frames; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"), connection.Ref);
        }

        history.Tell(PoisonPill.Instance);
        await StopAsync(history);

        var (replacement, _) = StartSupervisedHistory();
        var firstUnconfirmed = 1L;
        await AwaitAssertAsync(
            async () =>
            {
                // As a ConnectionActor does: resend everything unconfirmed, in order.
                for (var frame = firstUnconfirmed; frame <= frames; frame++)
                {
                    replacement.Tell(Append("a", frame, firstUnconfirmed, $"a{frame}"), connection.Ref);
                }

                var confirmed = await connection.FishForMessageAsync<AppendPatchResponse>(
                    r =>
                    {
                        firstUnconfirmed = Math.Max(firstUnconfirmed, r.FrameNo + 1);
                        return r.FrameNo == frames;
                    },
                    TimeSpan.FromSeconds(1));
                Assert.Equal(frames, confirmed.FrameNo);
            },
            TimeSpan.FromSeconds(30),
            TimeSpan.FromMilliseconds(100));

        var journal = await ReadJournalAsync(Doc);
        Assert.Equal(Enumerable.Range(1, frames).Select(f => (long)f), journal.Select(p => p.FrameNo));
        Assert.Equal(Enumerable.Range(1, frames).Select(s => (long)s), journal.Select(p => p.Sequence));
    }

    [Fact]
    public async Task Should_journal_a_burst_from_several_connections_contiguously_and_confirm_and_publish_each_once()
    {
        const int connections = 4;
        const int framesEach = 50;
        const int total = connections * framesEach;
        var (history, publisher) = StartHistory(Quiet);
        var senders = Enumerable.Range(0, connections).Select(_ => CreateTestProbe()).ToArray();

        // All at once from several threads: the appends gather into batches while earlier writes are in flight.
        await Task.WhenAll(Enumerable.Range(0, connections).Select(c => Task.Run(() =>
        {
            for (var frame = 1; frame <= framesEach; frame++)
            {
                history.Tell(Append($"c{c}", frame, 1, $"c{c}-{frame}"), senders[c].Ref);
            }
        })));

        var published = new List<PatchAppended>();
        for (var i = 0; i < total; i++)
        {
            published.Add(await ExpectPublishedPatchAsync(publisher));
        }

        // One order for everyone: the journal's, numbered 1..N without a gap, each connection's frames in order.
        var journal = await ReadJournalAsync(Doc);
        Assert.Equal(Enumerable.Range(1, total).Select(s => (long)s), journal.Select(p => p.Sequence));
        Assert.Equal(
            journal.Select(p => (p.Sequence, p.OriginConnectionId, p.FrameNo, TextOf(p.Payload))),
            published.Select(p => (p.Sequence, p.OriginConnectionId, p.FrameNo, TextOf(p.Payload))));
        for (var c = 0; c < connections; c++)
        {
            var origin = $"c{c}";
            Assert.Equal(
                Enumerable.Range(1, framesEach).Select(f => $"{origin}-{f}"),
                journal.Where(p => p.OriginConnectionId == origin).Select(p => TextOf(p.Payload)));
        }

        // Each sender has each of its frames confirmed once, in order, with the sequence the journal gave it.
        var sequenceOf = journal.ToDictionary(p => (p.OriginConnectionId, p.FrameNo), p => p.Sequence);
        for (var c = 0; c < connections; c++)
        {
            for (var frame = 1L; frame <= framesEach; frame++)
            {
                var confirmed = await senders[c].ExpectMsgAsync<AppendPatchResponse>(Patience);
                Assert.Equal(new AppendPatchResponse($"c{c}", frame, sequenceOf[($"c{c}", frame)]), confirmed);
            }
        }

        await Task.WhenAll(senders.Select(s => s.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)).AsTask()).Append(publisher.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)).AsTask()));
    }

    [Fact]
    public async Task Should_not_journal_a_resend_of_a_frame_whose_batch_is_still_being_written()
    {
        const int frames = 30;
        var (history, publisher) = StartHistory(Quiet);

        // The connection resends everything at once, as after a resend timeout, while the first writes are in flight.
        for (var frame = 1; frame <= frames; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"));
        }

        for (var frame = 1; frame <= frames; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"));
        }

        var published = new List<PatchAppended>();
        for (var i = 0; i < frames; i++)
        {
            published.Add(await ExpectPublishedPatchAsync(publisher));
        }

        Assert.Equal(Enumerable.Range(1, frames).Select(s => (long)s), published.Select(p => p.Sequence));
        Assert.Equal(Enumerable.Range(1, frames).Select(f => (long)f), (await ReadJournalAsync(Doc)).Select(p => p.FrameNo));
        await publisher.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));

        // Every frame is confirmed once, never renumbered; a resend below the last frame taken is told it is behind
        // frame 30 (the connection waits for its run to get there) and the resend of frame 30 is confirmed again.
        var responses = new List<AppendPatchResponse>();
        while (await ReceiveOneAsync(TimeSpan.FromMilliseconds(300)) is AppendPatchResponse response)
        {
            responses.Add(response);
        }

        var confirmations = responses.Where(r => r.Outcome == AppendOutcome.Journaled).ToList();
        Assert.Equal(Enumerable.Range(1, frames).Select(f => (long)f), confirmations.Select(r => r.FrameNo).Distinct().Order());
        Assert.All(confirmations, r => Assert.Equal(r.FrameNo, r.Sequence));
        Assert.Equal(Enumerable.Range(1, frames - 1).Select(f => (long)f), responses.Where(r => r.Outcome == AppendOutcome.Behind).Select(r => r.FrameNo));
        Assert.All(responses.Where(r => r.Outcome == AppendOutcome.Behind), r => Assert.Equal(frames, r.JournaledFrame));
        Assert.DoesNotContain(responses, r => r.Outcome == AppendOutcome.Conflict);
    }

    [Fact]
    public async Task Should_publish_heartbeats_with_the_last_sequence()
    {
        var publisher = CreateTestProbe();
        var history = Sys.ActorOf(HistoryActor.Props(Doc, publisher.Ref, _status, Quiet with { HeartbeatInterval = TimeSpan.FromMilliseconds(100) }));

        var first = await publisher.FishForMessageAsync<Publish>(p => p.Message is HistoryHeartbeat, Patience);
        Assert.Equal(Doc.Topic, first.Topic);
        Assert.Equal(0, ((HistoryHeartbeat)first.Message).LastSequence);

        history.Tell(Append("a", 1, 1, "a1"));
        history.Tell(Append("a", 2, 1, "a2"));
        await publisher.FishForMessageAsync<Publish>(p => p.Message is HistoryHeartbeat { LastSequence: 2 }, Patience);
    }

    [Fact]
    public async Task Should_answer_open_document_with_the_last_journaled_sequence()
    {
        var (history, _) = StartHistory(Quiet);

        history.Tell(new OpenDocument(Doc));
        var empty = await ExpectMsgAsync<DocumentOpened>(Patience);
        Assert.Equal((Doc, 0L), (empty.Document, empty.LastSequence));
        Assert.NotEqual(0, empty.Epoch);

        history.Tell(Append("a", 1, 1, "a1"));
        history.Tell(Append("a", 2, 1, "a2"));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        history.Tell(new OpenDocument(Doc));
        // The epoch picked for the empty history is the one its first patch journaled.
        Assert.Equal(new DocumentOpened(Doc, 2, empty.Epoch), await ExpectMsgAsync<DocumentOpened>(Patience));
    }

    [Fact]
    public async Task Should_keep_the_epoch_its_first_patch_journaled_across_restarts_and_snapshots()
    {
        var settings = Quiet with { SnapshotEvery = 3 };
        var (history, _) = StartHistory(settings);
        for (var frame = 1; frame <= 4; frame++)
        {
            history.Tell(Append("a", frame, 1, $"a{frame}"));
            await ExpectMsgAsync<AppendPatchResponse>(Patience);
        }

        var epoch = (await ReadJournalAsync(Doc))[0].Epoch;
        Assert.NotEqual(0, epoch);
        await AwaitLatestSnapshotAsync(3);
        await StopAsync(history);

        // Recovered from the snapshot and the tail, without the first patch: the snapshot keeps the epoch.
        Persistence.Instance.Apply(Sys).JournalFor(null).Tell(new DeleteMessagesTo(Doc.PersistenceId, 3, TestActor));
        await ExpectMsgAsync<DeleteMessagesSuccess>(Patience);
        var (restarted, _) = StartHistory(settings);
        restarted.Tell(new OpenDocument(Doc));
        Assert.Equal(new DocumentOpened(Doc, 4, epoch), await ExpectMsgAsync<DocumentOpened>(Patience));
    }

    [Fact]
    public async Task Should_ask_its_parent_to_passivate_it_when_idle_and_stop_when_told()
    {
        var parent = CreateTestProbe();
        var history = parent.ChildActorOf(HistoryActor.Props(Doc, CreateTestProbe().Ref, _status, Quiet with { PassivateAfter = TimeSpan.FromMilliseconds(300) }));
        history.Tell(Append("a", 1, 1, "a1"));
        await ExpectMsgAsync<AppendPatchResponse>(Patience);
        Assert.Contains(Doc, _status.Sequencers);

        var passivate = await parent.ExpectMsgAsync<Passivate>(Patience);
        Assert.Same(HistoryActor.StopSequencer.Instance, passivate.StopMessage);

        Watch(history);
        history.Tell(passivate.StopMessage, parent.Ref);
        await ExpectTerminatedAsync(history, Patience);
        Assert.DoesNotContain(Doc, _status.Sequencers);
        await parent.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300));
    }

    private (IActorRef History, TestProbe Publisher) StartHistory(HistorySettings settings)
    {
        var publisher = CreateTestProbe();
        publisher.IgnoreMessages<Publish>(p => p.Message is HistoryHeartbeat);
        return (Sys.ActorOf(HistoryActor.Props(Doc, publisher.Ref, _status, settings)), publisher);
    }

    // As production runs it: a write that collides with one the previous incarnation still had in flight
    // stops the sequencer, and the supervisor starts it again from the journal.
    private (IActorRef Supervisor, TestProbe Publisher) StartSupervisedHistory()
    {
        var publisher = CreateTestProbe();
        publisher.IgnoreMessages<Publish>(p => p.Message is HistoryHeartbeat);
        var props = BackoffSupervisor.Props(Backoff.OnStop(
            HistoryActor.Props(Doc, publisher.Ref, _status, Quiet),
            "sequencer",
            TimeSpan.FromMilliseconds(50),
            TimeSpan.FromMilliseconds(500),
            0.2,
            -1));
        return (Sys.ActorOf(props), publisher);
    }

    private async Task StopAsync(IActorRef actor)
    {
        var watcher = CreateTestProbe();
        watcher.Watch(actor);
        Sys.Stop(actor);
        await watcher.ExpectTerminatedAsync(actor, Patience);
    }

    private async Task<HistorySnapshot> AwaitLatestSnapshotAsync(long sequence)
    {
        var store = Persistence.Instance.Apply(Sys).SnapshotStoreFor(null);
        HistorySnapshot? snapshot = null;
        await AwaitAssertAsync(
            async () =>
            {
                store.Tell(new LoadSnapshot(Doc.PersistenceId, SnapshotSelectionCriteria.Latest, long.MaxValue), TestActor);
                var loaded = await ExpectMsgAsync<LoadSnapshotResult>(Patience);
                Assert.NotNull(loaded.Snapshot);
                Assert.Equal(sequence, loaded.Snapshot.Metadata.SequenceNr);
                snapshot = Assert.IsType<HistorySnapshot>(loaded.Snapshot.Snapshot);
            },
            Patience,
            TimeSpan.FromMilliseconds(100));
        return snapshot!;
    }

    private static Task<PatchAppended> ExpectPublishedPatchAsync(TestProbe publisher) => publisher.ExpectPublishedPatchAsync(Doc, Patience);

    private static AppendPatch Append(string connection, long frame, long firstUnconfirmed, string text) =>
        new(Doc, connection, frame, firstUnconfirmed, Text(text), IsText: true);
}
