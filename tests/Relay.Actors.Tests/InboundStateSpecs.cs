#nullable enable
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>A connection's inbound protocol, without an actor: times are milliseconds passed in.</summary>
public sealed class InboundStateSpecs
{
    private const long ResendAfterMs = 1_000;
    private const long UnavailableAfterMs = 5_000;
    private static readonly DocumentName Document = DocumentName.Parse("notes/today");

    [Fact]
    public void Should_number_frames_from_one_and_name_the_oldest_unconfirmed_as_first_unconfirmed()
    {
        var state = NewState();

        var first = state.Accept(Text("f1"), true, 1, 0, out var firstStartsWaiting);
        var second = state.Accept(Text("f2"), false, 1, 0, out var secondStartsWaiting);
        var third = state.Accept(Text("f3"), true, 1, 0, out _);

        Assert.Equal([(1L, 1L), (2L, 1L), (3L, 1L)], new[] { first, second, third }.Select(a => (a.FrameNo, a.FirstUnconfirmed)));
        Assert.Equal((Document, "me", true), (first.Document, first.ConnectionId, first.IsText));
        Assert.False(second.IsText);
        Assert.True(firstStartsWaiting);
        Assert.False(secondStartsWaiting);
        Assert.Equal(3, state.Unconfirmed);

        state.Confirm(2, 10);
        var fourth = state.Accept(Text("f4"), true, 1, 10, out var fourthStartsWaiting);
        Assert.Equal((4L, 3L), (fourth.FrameNo, fourth.FirstUnconfirmed));
        Assert.False(fourthStartsWaiting);
    }

    [Fact]
    public void Should_give_frames_behind_the_clients_last_journaled_one_their_credits_back_once_and_wait_for_the_run_to_reach_it()
    {
        var state = NewState();
        state.Accept(Text("f1"), true, 1, 2, 0, out _);
        state.Accept(Text("f2"), true, 2, 3, 0, out _);

        // The sequencer: frame 1 and 2 are below 4, the last one journaled under the client. Their credits come back
        // now (a long resend is read on), and only once; they stay unconfirmed, and the wait is no outage.
        Assert.Equal(2, state.Behind(1, 4, 100));
        Assert.Equal(3, state.Behind(2, 4, 100));
        Assert.Equal(0, state.Behind(2, 4, 100));
        Assert.Equal(2, state.Unconfirmed);
        Assert.False(state.IsUnavailable(100 + UnavailableAfterMs));

        // The client goes on towards 4: not stopped short while its frames keep coming.
        state.Accept(Text("f3"), true, 3, 1, 100 + ResendAfterMs - 1, out _);
        Assert.False(state.StoppedBehind(100 + ResendAfterMs));

        // Frame 4 is the journaled one: confirmed, and the credits given back early are not given again.
        state.Accept(Text("f4"), true, 4, 1, 2_000, out _);
        Assert.Equal(2, state.Confirm(4, 2_000));
        Assert.Equal(0, state.Unconfirmed);
        Assert.False(state.StoppedBehind(10_000));
    }

    [Fact]
    public void Should_say_frames_behind_the_clients_last_journaled_one_stopped_short_when_no_frame_gets_there_in_time()
    {
        var state = NewState();
        state.Accept(Text("new 1"), true, 1, 1, 0, out _);
        state.Behind(1, 60, 10);

        Assert.False(state.StoppedBehind(10 + ResendAfterMs - 1));
        Assert.True(state.StoppedBehind(10 + ResendAfterMs));
    }

    [Fact]
    public void Should_start_waiting_again_once_everything_was_confirmed()
    {
        var state = NewState();
        state.Accept(Text("f1"), true, 1, 0, out _);
        state.Confirm(1, 10);

        var next = state.Accept(Text("f2"), true, 1, 20, out var startsWaiting);

        Assert.True(startsWaiting);
        Assert.Equal((2L, 2L), (next.FrameNo, next.FirstUnconfirmed));
    }

    [Fact]
    public void Should_release_the_credits_of_the_confirmed_frames_once()
    {
        // Each frame gives back the credits it was accepted with (the link's count: one per started 4 KiB).
        var state = NewState();
        state.Accept(new byte[10], false, 1, 0, out _);
        state.Accept(new byte[5_000], false, 2, 0, out _);
        state.Accept(new byte[9_000], false, 3, 0, out _);

        Assert.Equal(1 + 2, state.Confirm(2, 10));
        Assert.Equal(0, state.Confirm(2, 20));
        Assert.Equal(0, state.Confirm(1, 30));
        Assert.Equal(1, state.Unconfirmed);

        Assert.Equal(3, state.Confirm(3, 40));
        Assert.Equal(0, state.Confirm(3, 50));
        Assert.Equal(0, state.Unconfirmed);
    }

    [Fact]
    public void Should_resend_nothing_before_the_interval_or_when_nothing_waits()
    {
        var state = NewState();
        Assert.Empty(state.DueForResend(ResendAfterMs * 10));

        state.Accept(Text("f1"), true, 1, 100, out _);

        Assert.Empty(state.DueForResend(100 + ResendAfterMs - 1));
        Assert.Single(state.DueForResend(100 + ResendAfterMs));

        state.Confirm(1, 2_000);
        Assert.Empty(state.DueForResend(100_000));
    }

    [Fact]
    public void Should_resend_all_unconfirmed_frames_in_order_with_the_oldest_as_first_unconfirmed()
    {
        var state = NewState();
        for (var i = 1; i <= 4; i++)
        {
            state.Accept(Text($"f{i}"), true, 1, 0, out _);
        }

        state.Confirm(1, 0);

        var resend = state.DueForResend(ResendAfterMs);
        Assert.Equal([(2L, 2L), (3L, 2L), (4L, 2L)], resend.Select(a => (a.FrameNo, a.FirstUnconfirmed)));
        Assert.Equal(["f2", "f3", "f4"], resend.Select(a => System.Text.Encoding.UTF8.GetString(a.Payload.Span)));

        // A resend restarts the interval.
        Assert.Empty(state.DueForResend(ResendAfterMs * 2 - 1));
        Assert.Equal(3, state.DueForResend(ResendAfterMs * 2).Count);
    }

    [Fact]
    public void Should_restart_the_resend_interval_when_a_confirmation_arrives()
    {
        var state = NewState();
        state.Accept(Text("f1"), true, 1, 0, out _);
        state.Accept(Text("f2"), true, 1, 0, out _);

        state.Confirm(1, 900);

        Assert.Empty(state.DueForResend(ResendAfterMs));
        Assert.Equal([2L], state.DueForResend(900 + ResendAfterMs).Select(a => a.FrameNo));
    }

    [Fact]
    public void Should_be_unavailable_after_the_limit_only_while_frames_wait()
    {
        var state = NewState();
        Assert.False(state.IsUnavailable(UnavailableAfterMs * 10));

        state.Accept(Text("f1"), true, 1, 0, out _);
        state.Accept(Text("f2"), true, 1, 0, out _);
        // Resending is no progress.
        state.DueForResend(ResendAfterMs);
        state.DueForResend(ResendAfterMs * 2);
        Assert.False(state.IsUnavailable(UnavailableAfterMs - 1));
        Assert.True(state.IsUnavailable(UnavailableAfterMs));

        // A partial confirmation is progress.
        state.Confirm(1, UnavailableAfterMs + 100);
        Assert.False(state.IsUnavailable(UnavailableAfterMs * 2 + 99));
        Assert.True(state.IsUnavailable(UnavailableAfterMs * 2 + 100));

        // Nothing waits: never unavailable, however long the sequencer is silent.
        state.Confirm(2, 20_000);
        Assert.False(state.IsUnavailable(1_000_000));

        // The clock starts again with the next frame.
        state.Accept(Text("f3"), true, 1, 1_000_000, out _);
        Assert.False(state.IsUnavailable(1_000_000 + UnavailableAfterMs - 1));
        Assert.True(state.IsUnavailable(1_000_000 + UnavailableAfterMs));
    }

    [Fact]
    public void Should_take_a_clients_own_patch_ids_starting_anywhere_and_going_up_by_one()
    {
        var state = NewState();

        // A relay.v1 client resending after a reconnect starts at its oldest unacknowledged id.
        var first = state.Accept(Text("p7"), true, 7, 1, 0, out var startsWaiting);
        Assert.True(startsWaiting);
        Assert.Equal((7L, 7L, "me"), (first!.FrameNo, first.FirstUnconfirmed, first.ConnectionId));
        var second = state.Accept(Text("p8"), true, 8, 1, 0, out _);
        Assert.Equal((8L, 7L), (second!.FrameNo, second.FirstUnconfirmed));
        Assert.Null(state.Accept(Text("p10"), true, 10, 1, 0, out _));
        Assert.Null(state.Accept(Text("p8"), true, 8, 1, 0, out _));
        Assert.Equal(9, state.Accept(Text("p9"), true, 9, 1, 0, out _)!.FrameNo);
        Assert.Equal(3, state.Unconfirmed);
    }

    [Fact]
    public void Should_refuse_an_id_below_one()
    {
        Assert.Null(NewState().Accept(Text("p0"), true, 0, 1, 0, out _));
    }

    private static InboundState NewState() =>
        new(Document, "me", TimeSpan.FromMilliseconds(ResendAfterMs), TimeSpan.FromMilliseconds(UnavailableAfterMs));

    private static ReadOnlyMemory<byte> Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);
}
