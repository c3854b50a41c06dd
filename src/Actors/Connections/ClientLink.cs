#nullable enable
namespace Relay.Actors.Connections;

/// <summary>
/// The bounded bridge between one <see cref="ConnectionActor"/> and its client's single reader and single
/// writer, which reach it through <see cref="ClientConnection"/>. Outbound frames are bounded by bytes: the
/// actor's <see cref="TryEnqueue"/> fails instead of growing past the limit, and replay waits with
/// <see cref="EnqueueAsync"/>. Presence and broadcast frames go on a lane of their own
/// (<see cref="TryEnqueueEphemeral"/>), bounded by its own bytes: when it is full they are dropped, and they never
/// take the patches' room nor make a slow consumer. The writer takes from both in turn. Inbound frames are bounded by credits: the reader takes them per frame and the
/// actor returns them once the frame is journaled.
/// </summary>
internal sealed class ClientLink
{
    /// <summary>The payload bytes one inbound credit stands for.</summary>
    public const int CreditBytes = 4096;

    // A plain queue under a lock rather than a Channel: an idle connection then holds no queue segment.
    private readonly Queue<OutboundFrame> _outbound = new();
    private readonly Queue<OutboundFrame> _ephemeral = new();
    private readonly long _maxEphemeralBytes;
    private long _ephemeralBytes;

    // The writer takes an ephemeral frame only after a patch-lane frame (or when no patch waits): the hello goes first,
    // and neither lane starves the other.
    private bool _lastWasPatchLane;
    private TaskCompletionSource<bool>? _readable;
    private readonly SemaphoreSlim _credits;
    private readonly TaskCompletionSource<CloseReason> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _drainGate = new();
    private readonly long _maxOutboundBytes;
    private readonly int _maxInFlight;
    private TaskCompletionSource? _drained;
    private CancellationTokenSource? _closing;
    private long _pendingBytes;

    /// <summary>Creates a link that buffers at most <paramref name="maxOutboundBytes"/> for the client and
    /// lets at most <paramref name="maxInFlight"/> of its frames wait for the journal;
    /// <paramref name="maxEphemeralBytes"/>: the bound of the ephemeral lane (<c>Relay:Presence:MaxQueuedBytes</c>).</summary>
    public ClientLink(long maxOutboundBytes, int maxInFlight, long maxEphemeralBytes)
    {
        _maxOutboundBytes = maxOutboundBytes;
        _maxEphemeralBytes = maxEphemeralBytes;
        _maxInFlight = maxInFlight;
        _credits = new SemaphoreSlim(maxInFlight, maxInFlight);
    }

    /// <summary>Frames queued for the client's writer.</summary>
    public int QueuedFrames
    {
        get
        {
            lock (_outbound)
            {
                return _outbound.Count + _ephemeral.Count;
            }
        }
    }

    /// <summary>Completes with the reason once the connection is to be closed.</summary>
    public Task<CloseReason> Closed => _closed.Task;

    /// <summary>Bytes queued for the client and not yet written out.</summary>
    public long PendingBytes => Volatile.Read(ref _pendingBytes);

    /// <summary>Queues a frame unless the client is already <see cref="PendingBytes"/> over the limit.</summary>
    public bool TryEnqueue(OutboundFrame frame)
    {
        if (_closed.Task.IsCompleted)
        {
            return true;
        }

        if (!TryReserve(ref _pendingBytes, frame.QueuedBytes, _maxOutboundBytes))
        {
            return false;
        }

        Write(frame);
        return true;
    }

    /// <summary>Bytes queued on the ephemeral lane and not yet written out.</summary>
    public long EphemeralBytes => Volatile.Read(ref _ephemeralBytes);

    /// <summary>
    /// Queues a presence or broadcast frame on the ephemeral lane; false (the frame dropped, and counted) when the lane
    /// has no room for it. Never touches the patches' queue or its limit.
    /// </summary>
    public bool TryEnqueueEphemeral(OutboundFrame frame)
    {
        if (_closed.Task.IsCompleted)
        {
            return true;
        }

        if (!TryReserve(ref _ephemeralBytes, frame.QueuedBytes, _maxEphemeralBytes))
        {
            Diagnostics.RelayMetrics.EphemeralDropped.Add(1);
            return false;
        }

        Write(frame, _ephemeral);
        Diagnostics.RelayMetrics.EphemeralRelayed.Add(1);
        return true;
    }

    /// <summary>Counts <paramref name="bytes"/> more into <paramref name="queued"/> unless that would pass <paramref name="max"/>.</summary>
    private static bool TryReserve(ref long queued, int bytes, long max)
    {
        if (Interlocked.Add(ref queued, bytes) <= max)
        {
            return true;
        }

        Interlocked.Add(ref queued, -bytes);
        return false;
    }

    /// <summary>Queues a frame once the queue has drained below half the limit; false if that took longer than <paramref name="timeout"/>.</summary>
    public async ValueTask<bool> EnqueueAsync(OutboundFrame frame, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (PendingBytes > _maxOutboundBytes / 2 && !_closed.Task.IsCompleted)
        {
            Task wait;
            lock (_drainGate)
            {
                var drained = _drained;
                if (drained is null)
                {
                    // Publish the waiter before looking at the count again. OnSent lowers the count and only then
                    // looks for a waiter, without the lock; both steps on each side are full fences, so either
                    // OnSent sees this waiter or the re-check below sees its lower count: no wake-up is lost.
                    drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Interlocked.Exchange(ref _drained, drained);
                }

                // Close completes the waiter under this lock after it completes Closed, so this sees either.
                if (PendingBytes <= _maxOutboundBytes / 2 || _closed.Task.IsCompleted)
                {
                    break;
                }

                wait = drained.Task;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await wait.WaitAsync(left).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        Interlocked.Add(ref _pendingBytes, frame.QueuedBytes);
        Write(frame);
        return true;
    }

    /// <summary>
    /// For the client's single writer: completes with true once a frame is queued, or with false once the
    /// link is closed. Frames queued before a close are not handed out after it.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_outbound)
        {
            if (_closed.Task.IsCompleted)
            {
                return ValueTask.FromResult(false);
            }

            if (_outbound.Count > 0 || _ephemeral.Count > 0)
            {
                return ValueTask.FromResult(true);
            }

            _readable ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            return new ValueTask<bool>(_readable.Task);
        }
    }

    /// <summary>For the client's single writer: takes the next frame, unless the link is closed.</summary>
    public bool TryRead([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OutboundFrame? frame)
    {
        lock (_outbound)
        {
            if (_closed.Task.IsCompleted)
            {
                frame = null;
                return false;
            }

            var ephemeralTurn = _ephemeral.Count > 0 && (_lastWasPatchLane || _outbound.Count == 0);
            if ((ephemeralTurn ? _ephemeral : _outbound).TryDequeue(out frame))
            {
                _lastWasPatchLane = !ephemeralTurn;
                return true;
            }

            frame = null;
            return false;
        }
    }

    /// <summary>For the client's single writer: whether another frame waits after the one it took.</summary>
    public bool HasQueued => QueuedFrames > 0;

    /// <summary>The writer reports a frame written out.</summary>
    public void OnSent(OutboundFrame frame)
    {
        if (frame.IsEphemeral)
        {
            Interlocked.Add(ref _ephemeralBytes, -frame.QueuedBytes);
            return;
        }

        var pending = Interlocked.Add(ref _pendingBytes, -frame.QueuedBytes);
        if (pending <= _maxOutboundBytes / 2 && Volatile.Read(ref _drained) is not null)
        {
            lock (_drainGate)
            {
                _drained?.TrySetResult();
                _drained = null;
            }
        }
    }

    /// <summary>
    /// Credits a frame of <paramref name="payloadBytes"/> takes: one per started <see cref="CreditBytes"/>, so the
    /// bytes waiting for the journal are bounded as well as the frames; never more than the link has in all.
    /// </summary>
    private int CreditsFor(int payloadBytes) => Math.Min(_maxInFlight, 1 + (Math.Max(payloadBytes, 1) - 1) / CreditBytes);

    /// <summary>
    /// The reader waits for the credits a frame of <paramref name="payloadBytes"/> takes, and returns how many it
    /// took: the frame carries them until the actor gives them back. Throws <see cref="OperationCanceledException"/>
    /// once the link is closed.
    /// </summary>
    public async ValueTask<int> AcquireCreditsForAsync(int payloadBytes)
    {
        var credits = CreditsFor(payloadBytes);

        // One reader per link: taking credits one at a time cannot deadlock against another taker.
        for (var i = credits; i > 0; i--)
        {
            if (!_credits.Wait(0))
            {
                // A connection that stops with frames unconfirmed (its drain timed out) never returns their
                // credits: the close must end the wait, or the session waits for its reader forever.
                await _credits.WaitAsync(ClosingToken()).ConfigureAwait(false);
            }
        }

        return credits;
    }

    /// <summary>The actor returns credits for frames the journal has taken.</summary>
    public void ReleaseCredits(int count)
    {
        if (count > 0)
        {
            _credits.Release(count);
        }
    }

    /// <summary>Ends the connection for <paramref name="reason"/>; the first reason wins.</summary>
    public void Close(CloseReason reason)
    {
        if (_closed.TrySetResult(reason))
        {
            TaskCompletionSource<bool>? readable;
            lock (_outbound)
            {
                _outbound.Clear();
                _outbound.TrimExcess();
                _ephemeral.Clear();
                _ephemeral.TrimExcess();
                readable = _readable;
                _readable = null;
            }

            readable?.TrySetResult(false);
            CancellationTokenSource? closing;
            lock (_drainGate)
            {
                _drained?.TrySetResult();
                _drained = null;
                closing = _closing;
            }

            closing?.Cancel();
        }
    }

    // Created only once the reader has to wait for credits: an idle connection holds none.
    private CancellationToken ClosingToken()
    {
        CancellationTokenSource closing;
        lock (_drainGate)
        {
            closing = _closing ??= new CancellationTokenSource();
        }

        // Close completes Closed before it looks for this source under the lock: it sees the source, or this sees Closed.
        if (_closed.Task.IsCompleted)
        {
            closing.Cancel();
        }

        return closing.Token;
    }

    private void Write(OutboundFrame frame, Queue<OutboundFrame>? lane = null)
    {
        TaskCompletionSource<bool>? readable;
        lock (_outbound)
        {
            // Close clears the queue under this lock after it completes Closed: a frame that comes later is dropped here.
            if (_closed.Task.IsCompleted)
            {
                return;
            }

            (lane ?? _outbound).Enqueue(frame);
            readable = _readable;
            _readable = null;
        }

        readable?.TrySetResult(true);
    }
}
