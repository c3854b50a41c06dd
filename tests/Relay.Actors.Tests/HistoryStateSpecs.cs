#nullable enable
using System.Text;
using Relay.Actors.Compaction;
using Relay.Actors.Documents;
using Relay.Actors.History;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>The sequencer's decisions, without an actor around them.</summary>
public sealed class HistoryStateSpecs
{
    [Fact]
    public void Should_accept_the_first_frame_of_a_new_connection()
    {
        var state = new HistoryState();

        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 1, 1)));
    }

    [Fact]
    public void Should_accept_an_unknown_connection_only_at_its_first_unconfirmed_frame()
    {
        var state = new HistoryState();

        // Frames before FirstUnconfirmed are journaled already (the sequencer forgot them, or lost its cursor).
        Assert.Equal(AppendDecision.Duplicate, state.Decide(Append("a", 4, 5)));
        // A later frame would overtake the missing FirstUnconfirmed one.
        Assert.Equal(AppendDecision.OutOfOrder, state.Decide(Append("a", 6, 5)));
        Assert.Equal(0, state.CursorCount);

        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 5, 5)));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 6, 5)));
    }

    [Fact]
    public void Should_report_an_accepted_frame_as_in_flight_until_it_is_applied()
    {
        var state = new HistoryState();
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 1, 1)));

        Assert.Equal(AppendDecision.InFlight, state.Decide(Append("a", 1, 1)));

        state.Apply(Patch(1, "a", 1));
        Assert.Equal(AppendDecision.Duplicate, state.Decide(Append("a", 1, 1)));
    }

    [Fact]
    public void Should_call_a_frame_that_skips_one_out_of_order()
    {
        var state = new HistoryState();
        state.Decide(Append("a", 1, 1));
        state.Apply(Patch(1, "a", 1));

        Assert.Equal(AppendDecision.OutOfOrder, state.Decide(Append("a", 3, 2)));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 2, 2)));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("a", 3, 2)));
    }

    [Fact]
    public void Should_remember_the_sequence_of_each_connections_last_frame()
    {
        var state = new HistoryState();
        state.Decide(Append("a", 1, 1));
        state.Decide(Append("b", 1, 1));
        state.Apply(Patch(1, "a", 1));
        state.Apply(Patch(2, "b", 1));

        Assert.Equal(2, state.LastSequence);
        Assert.Equal(1, state.LastSequenceOf("a"));
        Assert.Equal(2, state.LastSequenceOf("b"));
        Assert.Equal(0, state.LastSequenceOf("c"));
    }

    [Fact]
    public void Should_number_accepted_appends_ahead_of_the_journal_and_journal_the_epoch_with_the_first()
    {
        var state = new HistoryState();
        state.EnsureEpoch("relay-history/a");

        state.Decide(Append("a", 1, 1));
        var first = state.AssignNext(Append("a", 1, 1));
        state.Decide(Append("b", 1, 1));
        var second = state.AssignNext(Append("b", 1, 1));

        Assert.Equal((1L, "a", 1L, state.Epoch), (first.Sequence, first.OriginConnectionId, first.FrameNo, first.Epoch));
        Assert.Equal((2L, "b", 0L), (second.Sequence, second.OriginConnectionId, second.Epoch));
        // Assigned, not journaled: the last sequence moves only as the journal confirms.
        Assert.Equal((0L, 2L), (state.LastSequence, state.LastAssigned));
        state.Apply(first);
        Assert.Equal((1L, 2L), (state.LastSequence, state.LastAssigned));
        state.Apply(second);
        Assert.Equal(3, state.AssignNext(Append("a", 2, 2)).Sequence);
    }

    [Fact]
    public void Should_continue_numbering_after_the_snapshot_the_replayed_patches_and_the_journals_highest_sequence()
    {
        var written = new HistoryState();
        for (var frame = 1; frame <= 4; frame++)
        {
            written.Apply(Patch(frame, "a", frame));
        }

        var recovered = new HistoryState();
        recovered.Restore(written.ToSnapshot());
        Assert.Equal(4, recovered.LastAssigned);
        recovered.Apply(Patch(5, "a", 5));
        recovered.Apply(Patch(6, "a", 6));

        // The journal numbered events past the last one replayed: numbering goes on after the journal's, never back.
        recovered.Recovered(8);
        recovered.Recovered(3);
        Assert.Equal((6L, 8L), (recovered.LastSequence, recovered.LastAssigned));
        Assert.Equal(9, recovered.AssignNext(Append("a", 7, 7)).Sequence);
    }

    [Fact]
    public void Should_report_once_that_a_document_no_longer_folds()
    {
        var state = Folding();
        state.Apply(Immer(1, """[{"op":"add","path":["a"],"value":1}]"""));
        Assert.False(state.ReportNotCompactable());

        state.Apply(Immer(2, "not json"));
        Assert.True(state.ReportNotCompactable());
        Assert.True(state.NotCompactableReported);
        state.Apply(Immer(3, "not json either"));
        Assert.False(state.ReportNotCompactable());

        // Without compaction there is nothing to report.
        var plain = new HistoryState();
        plain.Apply(Patch(1, "a", 1));
        Assert.False(plain.ReportNotCompactable());
    }

    [Fact]
    public void Should_restore_from_its_snapshot_with_the_same_decisions()
    {
        var state = new HistoryState();
        for (var frame = 1; frame <= 3; frame++)
        {
            state.Decide(Append("a", frame, 1));
            state.Apply(Patch(frame, "a", frame));
        }

        state.Decide(Append("b", 1, 1));
        state.Apply(Patch(4, "b", 1));

        var restored = new HistoryState();
        restored.Restore(state.ToSnapshot());

        Assert.Equal(4, restored.LastSequence);
        Assert.Equal(2, restored.CursorCount);
        Assert.Equal(3, restored.LastSequenceOf("a"));
        Assert.Equal(AppendDecision.Duplicate, restored.Decide(Append("a", 3, 3)));
        Assert.Equal(AppendDecision.OutOfOrder, restored.Decide(Append("a", 5, 4)));
        Assert.Equal(AppendDecision.Accept, restored.Decide(Append("a", 4, 4)));
        Assert.Equal(AppendDecision.Accept, restored.Decide(Append("b", 2, 2)));
    }

    [Fact]
    public void Should_snapshot_only_journaled_frames_and_not_in_flight_ones()
    {
        var state = new HistoryState();
        state.Decide(Append("a", 1, 1));
        state.Apply(Patch(1, "a", 1));
        state.Decide(Append("a", 2, 2));

        var snapshot = state.ToSnapshot();

        var cursor = Assert.Single(snapshot.Cursors);
        Assert.Equal(("a", 1L, 1L), (cursor.ConnectionId, cursor.FrameNo, cursor.Sequence));
        Assert.Equal(HistoryState.PayloadHash(new byte[] { 1 }, isText: false), cursor.PayloadHash);
    }

    [Fact]
    public void Should_take_a_frame_below_the_clients_last_journaled_one_for_a_resend_only_once_the_run_reaches_it()
    {
        var state = Journaled("client/tab", frames: 3);

        // A client that lost its counter starts again at 1: neither journaled nor confirmed, the run must reach 3.
        Assert.Equal(AppendDecision.Behind, state.Decide(Append("client/tab", 1, 1)));
        Assert.Equal(AppendDecision.Behind, state.Decide(Append("client/tab", 2, 1)));
        Assert.Equal(3, state.LastFrameOf("client/tab"));

        // A resend that gets there with the journaled payload is one: the frame is confirmed, nothing journaled twice.
        Assert.Equal(AppendDecision.Duplicate, state.Decide(Append("client/tab", 3, 1)));
        Assert.Equal(3, state.LastSequence);
    }

    [Fact]
    public void Should_refuse_the_clients_last_journaled_id_sent_again_with_another_payload()
    {
        var state = Journaled("client/tab", frames: 3);

        Assert.Equal(AppendDecision.Conflict, state.Decide(Append("client/tab", 3, 1, payload: [42])));
        Assert.Equal(AppendDecision.Conflict, state.Decide(Append("client/tab", 3, 1, isText: true)));
        Assert.Equal(AppendDecision.Duplicate, state.Decide(Append("client/tab", 3, 1)));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("client/tab", 4, 4)));
    }

    [Fact]
    public void Should_keep_the_last_frames_payload_hash_through_a_snapshot_and_trust_an_old_snapshot_without_one()
    {
        var restored = new HistoryState();
        restored.Restore(Journaled("client/tab", frames: 3).ToSnapshot());
        Assert.Equal(AppendDecision.Conflict, restored.Decide(Append("client/tab", 3, 1, payload: [42])));

        // Written before payload hashes were kept: the frame can only be taken for a resend, as before.
        var old = new HistoryState();
        old.Restore(new HistorySnapshot(3, [new ConnectionCursor("client/tab", 3, 3)], Epoch: 7));
        Assert.Equal(AppendDecision.Duplicate, old.Decide(Append("client/tab", 3, 1, payload: [42])));
        Assert.Equal(AppendDecision.Behind, old.Decide(Append("client/tab", 1, 1)));
    }

    [Fact]
    public void Should_hash_payloads_by_every_byte_their_length_and_their_kind_the_same_in_every_process()
    {
        byte[] patch = Encoding.UTF8.GetBytes("[{\"op\":\"add\",\"path\":[\"socks\"],\"value\":1}]");
        var hash = HistoryState.PayloadHash(patch, isText: true);

        Assert.Equal(hash, HistoryState.PayloadHash(patch.ToArray(), isText: true));
        Assert.NotEqual(hash, HistoryState.PayloadHash(patch, isText: false));
        Assert.NotEqual(HistoryState.PayloadHash(new byte[8], false), HistoryState.PayloadHash(new byte[9], false));
        for (var i = 0; i < patch.Length; i++)
        {
            var changed = patch.ToArray();
            changed[i] ^= 1;
            Assert.NotEqual(hash, HistoryState.PayloadHash(changed, isText: true));
        }

        // A fixed value: recovery in another process, or another version, must compute the same hash.
        Assert.Equal(3979620933733326643L, HistoryState.PayloadHash("relay.v1 patch"u8, isText: true));
    }

    [Fact]
    public void Should_keep_the_cursor_table_within_its_bound_and_forget_the_oldest_connections()
    {
        var state = new HistoryState(maxCursors: 4);
        for (var i = 1; i <= 20; i++)
        {
            var connection = $"conn-{i}";
            Assert.Equal(AppendDecision.Accept, state.Decide(Append(connection, 1, 1)));
            state.Apply(Patch(i, connection, 1));
            Assert.InRange(state.CursorCount, 1, state.MaxCursors);
        }

        // The most recent writer is still known; the first one was forgotten and is taken up at FirstUnconfirmed.
        Assert.Equal(AppendDecision.Duplicate, state.Decide(Append("conn-20", 1, 1)));
        Assert.Equal(0, state.LastSequenceOf("conn-1"));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("conn-1", 2, 2)));
    }

    [Fact]
    public void Should_pick_a_fresh_epoch_for_an_empty_history_and_take_the_journaled_one_from_its_first_patch()
    {
        var first = new HistoryState();
        var second = new HistoryState();
        first.EnsureEpoch("relay-history/a");
        second.EnsureEpoch("relay-history/a");
        Assert.NotEqual(0, first.Epoch);
        Assert.NotEqual(first.Epoch, second.Epoch);

        var recovered = new HistoryState();
        recovered.Apply(Patch(1, "a", 1) with { Epoch = first.Epoch });
        recovered.Apply(Patch(2, "a", 2));
        recovered.EnsureEpoch("relay-history/a");
        Assert.Equal(first.Epoch, recovered.Epoch);

        var fromSnapshot = new HistoryState();
        fromSnapshot.Restore(recovered.ToSnapshot());
        Assert.Equal(first.Epoch, fromSnapshot.Epoch);
    }

    [Fact]
    public void Should_name_a_history_journaled_before_epochs_by_its_first_patch()
    {
        // The same first patch gives the same epoch on every node and every restart; another first patch another.
        var one = new HistoryState();
        one.Apply(Patch(1, "conn-x", 1));
        var same = new HistoryState();
        same.Apply(Patch(1, "conn-x", 1));
        var other = new HistoryState();
        other.Apply(Patch(1, "conn-y", 1));

        Assert.NotEqual(0, one.Epoch);
        Assert.Equal(one.Epoch, same.Epoch);
        Assert.NotEqual(one.Epoch, other.Epoch);
    }

    [Fact]
    public void Should_snapshot_the_folded_state_and_restore_it()
    {
        var state = Folding();
        state.Apply(Immer(1, """[{"op":"add","path":["a"],"value":[1]}]"""));
        state.Apply(Immer(2, """[{"op":"add","path":["a","-"],"value":2}]"""));

        var snapshot = state.ToSnapshot();
        Assert.True(snapshot.Compactable);
        Assert.Equal(CompactionMode.Immer, snapshot.CompactionMode);
        Assert.Equal("""{"a":[1,2]}""", Encoding.UTF8.GetString(snapshot.State.Span));
        Assert.Equal(0, state.JoinSnapshot);
        state.SnapshotSaved(2, compactable: true);
        Assert.Equal(2, state.JoinSnapshot);

        var recovered = Folding();
        recovered.Restore(snapshot);
        recovered.Apply(Immer(3, """[{"op":"remove","path":["a",0]}]"""));
        Assert.Equal(2, recovered.JoinSnapshot);
        Assert.Equal("""{"a":[2]}""", Encoding.UTF8.GetString(recovered.ToSnapshot().State.Span));
    }

    [Fact]
    public void Should_stop_serving_snapshots_once_a_patch_does_not_fold_unless_the_journal_before_them_was_deleted()
    {
        foreach (var deleteCompacted in new[] { false, true })
        {
            var state = Folding(deleteCompacted);
            state.Apply(Immer(1, """[{"op":"add","path":["a"],"value":1}]"""));
            state.ToSnapshot();
            state.SnapshotSaved(1, compactable: true);

            state.Apply(Immer(2, "not json"));

            Assert.False(state.Compactable);
            Assert.Contains("not JSON", state.Fold!.NotCompactableReason);
            Assert.Equal(deleteCompacted ? 1 : 0, state.JoinSnapshot);
            var snapshot = state.ToSnapshot();
            Assert.False(snapshot.Compactable);
            Assert.Equal(deleteCompacted ? 1 : 0, snapshot.JoinSnapshot);

            // The mark survives a restart.
            var recovered = Folding(deleteCompacted);
            recovered.Restore(snapshot);
            Assert.False(recovered.Compactable);
            Assert.Equal(deleteCompacted ? 1 : 0, recovered.JoinSnapshot);
        }
    }

    [Fact]
    public void Should_trim_only_what_the_snapshot_joiners_start_from_covers_and_keep_the_mark_across_a_restart()
    {
        Assert.Equal(HistoryEditOutcome.NotFound, Folding().DecideTrim(1, upToSnapshot: false).Outcome);
        var plain = new HistoryState();
        plain.Apply(Patch(1, "a", 1));
        var (off, _, offReason) = plain.DecideTrim(2, upToSnapshot: false);
        Assert.Equal(HistoryEditOutcome.NotKept, off);
        Assert.Contains("compaction is off", offReason);

        var state = Folding();
        for (var sequence = 1; sequence <= 4; sequence++)
        {
            state.Apply(Immer(sequence, $$"""[{"op":"add","path":["k{{sequence}}"],"value":{{sequence}}}]"""));
        }

        // No snapshot yet: nothing can go, and retention's cut-down trim goes nowhere either.
        Assert.Equal(HistoryEditOutcome.NotKept, state.DecideTrim(2, upToSnapshot: false).Outcome);
        Assert.Equal((HistoryEditOutcome.Done, 0L), (state.DecideTrim(2, upToSnapshot: true) is var none ? (none.Outcome, none.Through) : default));

        state.ToSnapshot();
        state.SnapshotSaved(3, compactable: true);
        Assert.Equal((HistoryEditOutcome.Done, 2L, (string?)null), state.DecideTrim(3, upToSnapshot: false));
        Assert.Equal((HistoryEditOutcome.Done, 3L, (string?)null), state.DecideTrim(4, upToSnapshot: false));
        var (past, _, pastReason) = state.DecideTrim(5, upToSnapshot: false);
        Assert.Equal(HistoryEditOutcome.NotKept, past);
        Assert.Contains("at 3: trim before 4 at most", pastReason);
        Assert.Equal(3, state.DecideTrim(5, upToSnapshot: true).Through);
        Assert.Equal(HistoryEditOutcome.Bad, state.DecideTrim(6, upToSnapshot: true).Outcome);

        state.Trimmed(3);
        Assert.Equal(3, state.DecideTrim(2, upToSnapshot: false).Through);
        var snapshot = state.ToSnapshot();
        Assert.Equal(3, snapshot.TrimmedThrough);

        // Once trimmed, joiners keep starting from a snapshot even when a later patch does not fold.
        var recovered = Folding();
        recovered.Restore(snapshot);
        Assert.Equal(3, recovered.TrimmedThrough);
        recovered.SnapshotSaved(4, compactable: true);
        recovered.Apply(Immer(5, "not json"));
        Assert.False(recovered.Compactable);
        Assert.Equal(4, recovered.JoinSnapshot);
        var again = Folding();
        again.Restore(recovered.ToSnapshot());
        Assert.Equal((3L, 4L), (again.TrimmedThrough, again.JoinSnapshot));
    }

    [Fact]
    public void Should_not_continue_a_fold_from_a_snapshot_written_without_compaction()
    {
        var plain = new HistoryState();
        plain.Apply(Patch(1, "a", 1));

        var recovered = Folding();
        recovered.Restore(plain.ToSnapshot());

        Assert.False(recovered.Compactable);
        Assert.Contains("without compaction", recovered.Fold!.NotCompactableReason);
        Assert.Equal(0, recovered.JoinSnapshot);
    }

    [Fact]
    public void Should_take_a_conditional_append_only_while_the_head_is_the_one_it_names()
    {
        var state = Journaled("a", 2);

        Assert.Equal(AppendDecision.HeadMoved, state.Decide(Append("api/x", 1, 1) with { ExpectedHead = 1 }));
        // Refused, nothing recorded: the same append with the right head is taken.
        Assert.Equal(0, state.LastFrameOf("api/x"));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("api/x", 1, 1) with { ExpectedHead = 2 }));
    }

    [Fact]
    public void Should_check_the_head_against_appends_taken_but_not_yet_journaled()
    {
        var state = Journaled("a", 2);
        var first = Append("api/x", 1, 1) with { ExpectedHead = 2 };
        Assert.Equal(AppendDecision.Accept, state.Decide(first));
        state.AssignNext(first);

        // Both backends read head 2; the first one's write is in flight (sequence 3), so the second one loses.
        Assert.Equal(AppendDecision.HeadMoved, state.Decide(Append("api/y", 1, 1) with { ExpectedHead = 2 }));
        Assert.Equal(AppendDecision.HeadMoved, state.Decide(Append("a", 3, 3) with { ExpectedHead = 2 }));
        Assert.Equal(AppendDecision.Accept, state.Decide(Append("api/y", 1, 1) with { ExpectedHead = 3 }));
    }

    [Fact]
    public void Should_answer_a_retried_conditional_append_as_a_duplicate_whatever_the_head_is_now()
    {
        var state = Journaled("a", 2);
        var conditional = Append("api/x", 1, 1) with { ExpectedHead = 2 };
        Assert.Equal(AppendDecision.Accept, state.Decide(conditional));
        state.Apply(state.AssignNext(conditional));
        state.Apply(Patch(4, "a", 3));

        Assert.Equal(AppendDecision.Duplicate, state.Decide(conditional));
        Assert.Equal(3, state.LastSequenceOf("api/x"));
    }

    private static HistoryState Folding(bool deleteCompacted = false) =>
        new(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted);

    private static PatchAppended Immer(long sequence, string patch) =>
        new(sequence, "conn-a", sequence, Encoding.UTF8.GetBytes(patch), IsText: true);

    private static AppendPatch Append(string connection, long frame, long firstUnconfirmed, byte[]? payload = null, bool isText = false) =>
        new(DocumentName.Default, connection, frame, firstUnconfirmed, payload ?? new byte[] { (byte)frame }, isText);

    /// <summary>A state with frames 1 to <paramref name="frames"/> of <paramref name="connection"/> journaled as sequence numbers 1 on.</summary>
    private static HistoryState Journaled(string connection, int frames)
    {
        var state = new HistoryState();
        for (var frame = 1; frame <= frames; frame++)
        {
            Assert.Equal(AppendDecision.Accept, state.Decide(Append(connection, frame, frame)));
            state.Apply(Patch(frame, connection, frame));
        }

        return state;
    }

    private static PatchAppended Patch(long sequence, string connection, long frame) =>
        new(sequence, connection, frame, new byte[] { (byte)frame }, IsText: false);
}
