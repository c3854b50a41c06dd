#nullable enable
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>A connection's outbound protocol, without an actor or a journal: the spec plays both the hub and the reads.</summary>
public sealed class OutboundStateSpecs
{
    [Fact]
    public void Should_go_live_without_a_read_when_joining_at_head_zero()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));

        Assert.Equal(OutboundStep.None, state.Join(0).Next);
        Assert.False(state.CatchingUp);

        Assert.True(state.OnLive(Patch(1)));
        Assert.True(state.OnLive(Patch(2)));
        Assert.Equal(3, state.Next);
        Assert.Equal(0, state.Held);
    }

    [Fact]
    public void Should_read_only_after_the_resume_point_when_resuming()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.StartAfter(5);

        Assert.Equal(OutboundStep.Read, state.Join(8).Next);
        Assert.Equal((6L, 8L), (state.ReadFrom, state.ReadTo));

        var resumedAtHead = new OutboundState(new HeldLimits(10, 1024));
        resumedAtHead.StartAfter(8);
        Assert.Equal(OutboundStep.None, resumedAtHead.Join(8).Next);
        Assert.False(resumedAtHead.OnLive(Patch(8)));
        Assert.True(resumedAtHead.OnLive(Patch(9)));
    }

    [Fact]
    public void Should_deliver_the_live_patches_that_came_before_a_join_at_the_resume_point()
    {
        // A named client's join waits for its last id; the hub's next patches may come first.
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.StartAfter(8);
        Assert.False(state.OnLive(Patch(9)));
        Assert.False(state.OnLive(Patch(10)));

        var (deliver, next) = state.Join(8);

        Assert.Equal([9L, 10L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
        Assert.False(state.CatchingUp);
        Assert.Equal(11, state.Next);
        Assert.True(state.OnLive(Patch(11)));
    }

    [Fact]
    public void Should_read_from_the_journal_the_live_patches_that_came_before_a_join_at_head_zero_and_overflowed()
    {
        var state = new OutboundState(new HeldLimits(2, 1024));
        Assert.False(state.OnLive(Patch(1)));
        Assert.False(state.OnLive(Patch(2)));
        Assert.False(state.OnLive(Patch(3)));

        var (deliver, next) = state.Join(0);

        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        Assert.True(state.CatchingUp);
        Assert.Equal((1L, 3L), (state.ReadFrom, state.ReadTo));
    }

    [Fact]
    public void Should_read_one_to_n_when_joining_at_head_n()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));

        Assert.Equal(OutboundStep.Read, state.Join(3).Next);

        Assert.True(state.CatchingUp);
        Assert.Equal((1L, 3L), (state.ReadFrom, state.ReadTo));
    }

    [Fact]
    public void Should_deliver_the_live_patches_held_during_the_catch_up_after_the_read_without_duplicates()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(3);

        Assert.False(state.OnLive(Patch(4)));
        Assert.False(state.OnLive(Patch(5)));
        Assert.Equal(2, state.Held);

        var (deliver, next) = state.OnReadCompleted(3);
        Assert.Equal([4L, 5L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
        Assert.False(state.CatchingUp);
        Assert.Equal(0, state.Held);

        Assert.False(state.OnLive(Patch(5)));
        Assert.True(state.OnLive(Patch(6)));
        Assert.Equal(7, state.Next);
    }

    [Fact]
    public void Should_read_from_the_journal_the_held_patches_that_did_not_fit_and_what_came_after_them()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(3);
        Assert.False(state.OnLive(Patch(4)));
        Assert.False(state.OnLive(Patch(5)));
        Assert.False(state.OnLive(Patch(6)));
        var (deliver, _) = state.OnReadCompleted(3);
        Assert.Equal([4L, 5L, 6L], deliver.Select(p => p.Sequence));

        // 4 went into the client's queue, 5 did not fit: 5 and 6 are read from the journal, later live patches held meanwhile.
        Assert.Equal(OutboundStep.Read, state.ReadFromJournal(5));
        Assert.True(state.CatchingUp);
        Assert.Equal((5L, 6L), (state.ReadFrom, state.ReadTo));
        Assert.False(state.OnLive(Patch(7)));
        Assert.Equal(1, state.Held);

        (deliver, var next) = state.OnReadCompleted(6);
        Assert.Equal([7L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
        Assert.True(state.OnLive(Patch(8)));
    }

    [Fact]
    public void Should_read_from_the_journal_a_live_patch_that_did_not_fit()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(0);
        Assert.True(state.OnLive(Patch(1)));
        Assert.True(state.OnLive(Patch(2)));

        Assert.Equal(OutboundStep.Read, state.ReadFromJournal(2));
        Assert.Equal((2L, 2L), (state.ReadFrom, state.ReadTo));
        Assert.False(state.OnLive(Patch(2)));
        Assert.False(state.OnLive(Patch(3)));
        Assert.Equal([3L], state.OnReadCompleted(2).Deliver.Select(p => p.Sequence));
        Assert.False(state.CatchingUp);
    }

    [Fact]
    public void Should_go_live_after_the_read_when_nothing_came_meanwhile()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(3);

        var (deliver, next) = state.OnReadCompleted(3);

        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.None, next);
        Assert.False(state.CatchingUp);
        Assert.True(state.OnLive(Patch(4)));
    }

    [Fact]
    public void Should_read_on_from_where_a_short_read_ended()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(5);
        state.OnLive(Patch(6));

        // The journal showed only 1..3 yet.
        var (deliver, next) = state.OnReadCompleted(3);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        Assert.Equal((4L, 5L), (state.ReadFrom, state.ReadTo));

        (deliver, next) = state.OnReadCompleted(5);
        Assert.Equal([6L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
    }

    [Fact]
    public void Should_read_on_from_where_a_short_read_ended_when_nothing_is_held()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(5);

        var (_, next) = state.OnReadCompleted(2);

        Assert.Equal(OutboundStep.Read, next);
        Assert.Equal((3L, 5L), (state.ReadFrom, state.ReadTo));
        Assert.True(state.CatchingUp);
    }

    [Fact]
    public void Should_read_the_same_range_again_soon_when_a_read_made_no_progress()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(3);

        // The rows are still being committed: the read found none of them.
        var (deliver, next) = state.OnReadCompleted(0);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.ReadAgainSoon, next);
        Assert.Equal((1L, 3L), (state.ReadFrom, state.ReadTo));

        state.OnLive(Patch(4));
        (deliver, next) = state.OnReadCompleted(0);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.ReadAgainSoon, next);
        Assert.Equal((1L, 3L), (state.ReadFrom, state.ReadTo));

        (deliver, next) = state.OnReadCompleted(3);
        Assert.Equal([4L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
    }

    [Fact]
    public void Should_drop_the_held_patches_on_overflow_and_read_again_up_to_the_latest_seen()
    {
        var state = new OutboundState(new HeldLimits(2, 1024));
        state.Join(3);
        state.OnLive(Patch(4));
        state.OnLive(Patch(5));

        // One more than it may hold: all of them are dropped, and so is every later one until the read ends.
        Assert.False(state.OnLive(Patch(6)));
        Assert.Equal(0, state.Held);
        Assert.False(state.OnLive(Patch(7)));
        Assert.Equal(0, state.Held);

        var (deliver, next) = state.OnReadCompleted(3);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        Assert.Equal((4L, 7L), (state.ReadFrom, state.ReadTo));

        // Live patches during the re-read are held again and follow it.
        Assert.False(state.OnLive(Patch(8)));
        (deliver, next) = state.OnReadCompleted(7);
        Assert.Equal([8L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
        Assert.True(state.OnLive(Patch(9)));
    }

    [Fact]
    public void Should_go_live_after_an_overflow_whose_re_read_is_already_covered()
    {
        var state = new OutboundState(new HeldLimits(1, 1024));
        state.Join(3);
        state.OnLive(Patch(4));
        state.OnLive(Patch(5));

        // A read that happened to return up to 5 already covers everything seen.
        var (deliver, next) = state.OnReadCompleted(5);

        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.None, next);
        Assert.False(state.CatchingUp);
        Assert.True(state.OnLive(Patch(6)));
    }

    [Fact]
    public void Should_ignore_patches_below_its_cursor()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(2);
        state.OnReadCompleted(2);

        Assert.False(state.OnLive(Patch(1)));
        Assert.False(state.OnLive(Patch(2)));
        Assert.True(state.OnLive(Patch(3)));
        Assert.False(state.OnLive(Patch(3)));
        Assert.Equal(4, state.Next);

        // Below the cursor while catching up: never held.
        var reading = new OutboundState(new HeldLimits(10, 1024));
        reading.Join(5);
        reading.OnReadCompleted(3);
        Assert.False(reading.OnLive(Patch(2)));
        Assert.Equal(0, reading.Held);
    }

    [Fact]
    public void Should_drop_the_held_patches_when_their_bytes_would_pass_the_limit()
    {
        var state = new OutboundState(new HeldLimits(100, 10));
        state.Join(3);
        Assert.False(state.OnLive(Patch(4, bytes: 6)));
        Assert.Equal(6, state.HeldBytes);

        // 6 + 6 bytes is over 10: everything held is dropped and read from the journal instead.
        Assert.False(state.OnLive(Patch(5, bytes: 6)));
        Assert.Equal(0, state.Held);
        Assert.Equal(0, state.HeldBytes);

        var (deliver, next) = state.OnReadCompleted(3);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        Assert.Equal((4L, 5L), (state.ReadFrom, state.ReadTo));
    }

    [Fact]
    public void Should_deliver_the_held_patches_after_a_read_that_went_through_a_hole()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(160);
        state.OnLive(Patch(161));
        state.OnLive(Patch(162));

        // The journal lacks 150: the read ends before it until the hole is known.
        var (deliver, next) = state.OnReadCompleted(149);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        (deliver, next) = state.OnReadCompleted(149);
        Assert.Equal(OutboundStep.ReadAgainSoon, next);

        // Once known, the read skips it: it went through 160 without delivering 150.
        (deliver, next) = state.OnReadCompleted(160);
        Assert.Equal([161L, 162L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
    }

    [Fact]
    public void Should_take_live_patches_across_a_hole_the_hub_skipped()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(149);
        state.OnReadCompleted(149);

        // The hub hands on 151 after 149: 150 is a hole of the journal.
        Assert.True(state.OnLive(Patch(151)));
        Assert.True(state.OnLive(Patch(152)));
        Assert.Equal(153, state.Next);
    }

    [Fact]
    public void Should_read_up_to_the_first_held_patch_when_the_journal_ends_in_a_hole_before_it()
    {
        var state = new OutboundState(new HeldLimits(10, 1024));
        state.Join(150);
        state.OnLive(Patch(151));

        // 150, the head the hub named, is missing: the read ends at 149.
        var (deliver, next) = state.OnReadCompleted(149);
        Assert.Empty(deliver);
        Assert.Equal(OutboundStep.Read, next);
        Assert.Equal((150L, 150L), (state.ReadFrom, state.ReadTo));

        // The reader sees 151 (the latest seen) past the range and skips 150 once it is a hole.
        Assert.Equal(151, state.LatestSeen);
        (deliver, next) = state.OnReadCompleted(150);
        Assert.Equal([151L], deliver.Select(p => p.Sequence));
        Assert.Equal(OutboundStep.None, next);
    }

    private static PatchAppended Patch(long sequence, int bytes) => new(sequence, "other", sequence, new byte[bytes], IsText: false);

    private static PatchAppended Patch(long sequence) => new(sequence, "other", sequence, new byte[] { (byte)sequence }, IsText: false);
}
