#nullable enable
using Relay.Actors.Connections;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>The bounded bridge between a connection actor and its socket.</summary>
public sealed class ClientLinkSpecs
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public void Should_refuse_a_frame_that_would_run_over_the_byte_bound()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);

        Assert.True(link.TryEnqueue(Frame(6)));
        Assert.True(link.TryEnqueue(Frame(4)));
        Assert.False(link.TryEnqueue(Frame(1)));

        Assert.Equal(10, link.PendingBytes);
        Assert.Equal([6, 4], link.DrainQueued());
    }

    [Fact]
    public async Task Should_make_room_as_the_writer_sends()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(6));
        Assert.False(link.TryEnqueue(Frame(6)));

        await link.ReadSentAsync(Patience);

        Assert.Equal(0, link.PendingBytes);
        Assert.True(link.TryEnqueue(Frame(6)));
    }

    [Fact]
    public async Task Should_let_an_enqueue_wait_until_the_queue_drains_below_half()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(4));
        link.TryEnqueue(Frame(4));

        var waiting = link.EnqueueAsync(Frame(3), Patience).AsTask();
        Assert.False(waiting.IsCompleted);

        // 4 of 10 bytes left: at most half, so the waiting frame goes in.
        await link.ReadSentAsync(Patience);

        Assert.True(await waiting.WaitAsync(Patience));
        Assert.Equal(7, link.PendingBytes);
    }

    [Fact]
    public async Task Should_enqueue_at_once_when_the_queue_is_at_most_half_full()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(5));

        Assert.True(await link.EnqueueAsync(Frame(8), TimeSpan.Zero));
        Assert.Equal(13, link.PendingBytes);
    }

    [Fact]
    public async Task Should_give_up_an_enqueue_when_the_queue_does_not_drain_in_time()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(8));

        Assert.False(await link.EnqueueAsync(Frame(1), TimeSpan.FromMilliseconds(200)));
        Assert.Equal(8, link.PendingBytes);
        Assert.Equal([8], link.DrainQueued());
    }

    [Fact]
    public async Task Should_hand_out_credits_up_to_the_in_flight_limit_and_take_them_back()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 2, maxEphemeralBytes: 10);
        await link.AcquireCreditsForAsync(1);
        await link.AcquireCreditsForAsync(1);

        var third = link.AcquireCreditsForAsync(1).AsTask();
        Assert.False(third.IsCompleted);

        link.ReleaseCredits(1);
        Assert.Equal(1, await third.WaitAsync(Patience));
        var fourth = link.AcquireCreditsForAsync(1).AsTask();
        Assert.False(fourth.IsCompleted);

        link.ReleaseCredits(2);
        Assert.Equal(1, await fourth.WaitAsync(Patience));
    }

    [Fact]
    public async Task Should_take_one_credit_per_started_4_KiB_and_never_more_than_the_limit()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 4, maxEphemeralBytes: 10);

        Assert.Equal(1, await link.AcquireCreditsForAsync(0));
        link.ReleaseCredits(1);
        Assert.Equal(1, await link.AcquireCreditsForAsync(ClientLink.CreditBytes));
        link.ReleaseCredits(1);
        Assert.Equal(2, await link.AcquireCreditsForAsync(ClientLink.CreditBytes + 1));
        link.ReleaseCredits(2);

        // A frame larger than the whole limit takes all of it, so it can still go alone.
        Assert.Equal(4, await link.AcquireCreditsForAsync(100 * ClientLink.CreditBytes));
        var next = link.AcquireCreditsForAsync(1).AsTask();
        Assert.False(next.IsCompleted);
        link.ReleaseCredits(4);
        Assert.Equal(1, await next.WaitAsync(Patience));
    }

    [Fact]
    public async Task Should_end_a_reader_waiting_for_credits_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        await link.AcquireCreditsForAsync(1);

        // The connection will never return the credit (it stopped with the frame unconfirmed).
        var waiting = link.AcquireCreditsForAsync(1).AsTask();
        Assert.False(waiting.IsCompleted);
        link.Close(CloseReason.Unavailable);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        // A reader that comes back after the close does not wait either.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => link.AcquireCreditsForAsync(1).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Should_drop_queued_frames_and_end_the_writer_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(3));
        Assert.True(link.HasQueued);

        link.Close(CloseReason.SlowConsumer);
        link.Close(CloseReason.Ended);

        // The first request wins.
        Assert.Equal(CloseReason.SlowConsumer, await link.Closed.WaitAsync(Patience));
        // A closing client gets nothing more: what was queued is dropped and the writer is told to end.
        Assert.False(await link.WaitToReadAsync().AsTask().WaitAsync(Patience));
        Assert.False(link.TryRead(out _));
        Assert.Equal(0, link.QueuedFrames);
        // Frames for a closing client are dropped, not refused: the actor is not told to close it twice.
        Assert.True(link.TryEnqueue(Frame(1)));
        Assert.False(link.HasQueued);
    }

    [Fact]
    public async Task Should_end_a_writer_already_waiting_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        var waiting = link.WaitToReadAsync().AsTask();
        Assert.False(waiting.IsCompleted);

        link.Close(CloseReason.Ended);

        Assert.False(await waiting.WaitAsync(Patience));
    }

    [Fact]
    public async Task Should_wake_a_waiting_writer_and_hand_out_frames_in_order()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        var waiting = link.WaitToReadAsync().AsTask();
        Assert.False(waiting.IsCompleted);

        link.TryEnqueue(Frame(1));
        link.TryEnqueue(Frame(2));

        Assert.True(await waiting.WaitAsync(Patience));
        Assert.Equal(2, link.QueuedFrames);
        Assert.True(link.TryRead(out var first));
        Assert.True(link.HasQueued);
        Assert.True(link.TryRead(out var second));
        Assert.False(link.HasQueued);
        Assert.Equal((1, 2), (first.QueuedBytes, second.QueuedBytes));
    }

    [Fact]
    public async Task Should_release_a_waiting_enqueue_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.TryEnqueue(Frame(8));
        var waiting = link.EnqueueAsync(Frame(1), Patience).AsTask();

        link.Close(CloseReason.Ended);

        await waiting.WaitAsync(Patience);
    }

    [Fact]
    public async Task Should_drop_a_frame_a_replay_enqueues_after_close()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
        link.Close(CloseReason.SlowConsumer);

        // Like TryEnqueue: accepted, so the replay ends normally, but nothing is kept for a closed socket.
        Assert.True(await link.EnqueueAsync(Frame(3), TimeSpan.Zero));
        Assert.Equal(0, link.QueuedFrames);
        Assert.False(link.HasQueued);
    }

    [Fact]
    public async Task Should_not_miss_the_wake_up_when_the_writer_drains_while_an_enqueue_starts_waiting()
    {
        // The race: the enqueue sees the queue over half full, the writer then sends the last frame and looks
        // for a waiter before the enqueue has published one. Nothing else will ever be sent, so a lost
        // wake-up leaves the enqueue waiting out its whole timeout. Each round lines both sides up on a spin
        // flag. Bounded in rounds and time, it is a
        // net, not a proof: against the unfixed link it failed in about a third of runs (the comment in
        // ClientLink.EnqueueAsync says why the fix holds).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var round = 0; round < 20_000 && clock.Elapsed < TimeSpan.FromSeconds(2); round++)
        {
            var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);
            link.TryEnqueue(Frame(8));
            var ready = 0;
            var go = 0;
            var writer = Task.Run(() =>
            {
                Volatile.Write(ref ready, 1);
                var spin = new SpinWait();
                while (Volatile.Read(ref go) == 0)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Assert.True(link.TryRead(out var frame));
                link.OnSent(frame);
            });
            var spinReady = new SpinWait();
            while (Volatile.Read(ref ready) == 0)
            {
                spinReady.SpinOnce(sleep1Threshold: -1);
            }

            Volatile.Write(ref go, 1);
            var enqueued = await link.EnqueueAsync(Frame(1), TimeSpan.FromSeconds(2));
            await writer;

            Assert.True(enqueued, $"the enqueue of round {round} missed the writer's wake-up");
        }
    }

    [Fact]
    public void Should_drop_ephemeral_frames_past_their_own_bound_without_taking_the_patches_room()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1, maxEphemeralBytes: 10);

        Assert.True(link.TryEnqueueEphemeral(Ephemeral(6)));
        Assert.False(link.TryEnqueueEphemeral(Ephemeral(6)));

        // The patches' queue is untouched by the ephemeral lane, and the link is not closed.
        Assert.Equal(0, link.PendingBytes);
        Assert.Equal(6, link.EphemeralBytes);
        Assert.True(link.TryEnqueue(Frame(10)));
        Assert.False(link.Closed.IsCompleted);
    }

    [Fact]
    public void Should_hand_out_the_lanes_in_turn_starting_with_the_patches()
    {
        var link = new ClientLink(maxOutboundBytes: 100, maxInFlight: 1, maxEphemeralBytes: 100);
        link.TryEnqueue(Frame(1));
        link.TryEnqueue(Frame(2));
        link.TryEnqueueEphemeral(Ephemeral(3));
        link.TryEnqueueEphemeral(Ephemeral(4));
        link.TryEnqueue(Frame(5));

        var order = new List<int>();
        while (link.TryRead(out var frame))
        {
            order.Add(frame.QueuedBytes);
            link.OnSent(frame);
        }

        Assert.Equal([1, 3, 2, 4, 5], order);
        Assert.Equal((0, 0L), (link.PendingBytes, link.EphemeralBytes));
    }

    private static OutboundFrame Ephemeral(int bytes) => new BroadcastFrame(string.Empty, string.Empty, new byte[bytes], IsText: false);

    private static OutboundFrame Frame(int bytes) => new PatchFrame(new byte[bytes], IsText: false, Sequence: 0);
}
