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
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);

        Assert.True(link.TryEnqueue(Frame(6)));
        Assert.True(link.TryEnqueue(Frame(4)));
        Assert.False(link.TryEnqueue(Frame(1)));

        Assert.Equal(10, link.PendingBytes);
        Assert.Equal([6, 4], Drain(link));
    }

    [Fact]
    public async Task Should_make_room_as_the_writer_sends()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(6));
        Assert.False(link.TryEnqueue(Frame(6)));

        link.OnSent(await link.Outbound.ReadAsync());

        Assert.Equal(0, link.PendingBytes);
        Assert.True(link.TryEnqueue(Frame(6)));
    }

    [Fact]
    public async Task Should_let_an_enqueue_wait_until_the_queue_drains_below_half()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(4));
        link.TryEnqueue(Frame(4));

        var waiting = link.EnqueueAsync(Frame(3), Patience).AsTask();
        Assert.False(waiting.IsCompleted);

        // 4 of 10 bytes left: at most half, so the waiting frame goes in.
        link.OnSent(await link.Outbound.ReadAsync());

        Assert.True(await waiting.WaitAsync(Patience));
        Assert.Equal(7, link.PendingBytes);
    }

    [Fact]
    public async Task Should_enqueue_at_once_when_the_queue_is_at_most_half_full()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(5));

        Assert.True(await link.EnqueueAsync(Frame(8), TimeSpan.Zero));
        Assert.Equal(13, link.PendingBytes);
    }

    [Fact]
    public async Task Should_give_up_an_enqueue_when_the_queue_does_not_drain_in_time()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(8));

        Assert.False(await link.EnqueueAsync(Frame(1), TimeSpan.FromMilliseconds(200)));
        Assert.Equal(8, link.PendingBytes);
        Assert.Equal([8], Drain(link));
    }

    [Fact]
    public async Task Should_hand_out_credits_up_to_the_in_flight_limit_and_take_them_back()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 2);
        await link.AcquireCreditAsync(CancellationToken.None);
        await link.AcquireCreditAsync(CancellationToken.None);

        var third = link.AcquireCreditAsync(CancellationToken.None);
        var fourth = link.AcquireCreditAsync(CancellationToken.None);
        Assert.False(third.IsCompleted);

        link.ReleaseCredits(2);

        await Task.WhenAll(third, fourth).WaitAsync(Patience);
    }

    [Fact]
    public async Task Should_stop_waiting_for_a_credit_when_the_reader_is_cancelled()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        await link.AcquireCreditAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = link.AcquireCreditAsync(cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task Should_complete_the_outbound_queue_after_its_frames_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(3));

        link.Close(new CloseRequest(RelayCloseCodes.PolicyViolation, "slow consumer"));
        link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "connection ended"));

        Assert.Equal(new CloseRequest(RelayCloseCodes.PolicyViolation, "slow consumer"), await link.Closed.WaitAsync(Patience));
        // The writer still gets what was queued, then the end.
        Assert.Equal(3, (await link.Outbound.ReadAsync()).Payload.Length);
        await link.Outbound.Completion.WaitAsync(Patience);
        // Frames for a closing client are dropped, not refused: the actor is not told to close it twice.
        Assert.True(link.TryEnqueue(Frame(1)));
        Assert.False(link.Outbound.TryRead(out _));
    }

    [Fact]
    public async Task Should_release_a_waiting_enqueue_when_closed()
    {
        var link = new ClientLink(maxOutboundBytes: 10, maxInFlight: 1);
        link.TryEnqueue(Frame(8));
        var waiting = link.EnqueueAsync(Frame(1), Patience).AsTask();

        link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "connection ended"));

        await waiting.WaitAsync(Patience);
    }

    // What the writer would find queued right now, by frame length.
    private static List<int> Drain(ClientLink link)
    {
        var lengths = new List<int>();
        while (link.Outbound.TryRead(out var frame))
        {
            lengths.Add(frame.Payload.Length);
        }

        return lengths;
    }

    private static OutboundFrame Frame(int bytes) => new(new byte[bytes], IsText: false);
}
