namespace Relay.Bench.Scenarios;

/// <summary>
/// Flow control of the senders: a sender may have at most <c>inFlight</c> patches that not every receiver has
/// yet. Each receiver reports each patch; the last report of a patch returns the sender one credit. A relay
/// keeps each sender's order, so a sender's patches complete in order and slot <c>seq % inFlight</c> is free
/// again by the time the sender reuses it.
/// </summary>
public sealed class DeliveryTracker : IDisposable
{
    private readonly int[][] _slots;
    private readonly SemaphoreSlim[] _credits;
    private readonly int _receivers;
    private readonly int _inFlight;
    private long _completed;

    /// <summary>Tracks <paramref name="senders"/> senders' patches to <paramref name="receivers"/> receivers.</summary>
    public DeliveryTracker(int senders, int receivers, int inFlight)
    {
        _receivers = receivers;
        _inFlight = inFlight;
        _slots = Enumerable.Range(0, senders).Select(_ => new int[inFlight]).ToArray();
        _credits = Enumerable.Range(0, senders).Select(_ => new SemaphoreSlim(inFlight, inFlight)).ToArray();
    }

    /// <summary>Patches every receiver has.</summary>
    public long Completed => Volatile.Read(ref _completed);

    /// <summary>Waits until <paramref name="sender"/> may send another patch.</summary>
    public Task WaitForCreditAsync(int sender, CancellationToken cancellationToken) => _credits[sender].WaitAsync(cancellationToken);

    /// <summary>A receiver got patch <paramref name="seq"/> of <paramref name="sender"/>.</summary>
    public void OnReceived(int sender, long seq)
    {
        ref var slot = ref _slots[sender][seq % _inFlight];
        if (Interlocked.Increment(ref slot) == _receivers)
        {
            Volatile.Write(ref slot, 0);
            Interlocked.Increment(ref _completed);
            _credits[sender].Release();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var credit in _credits)
        {
            credit.Dispose();
        }
    }
}

/// <summary>
/// A receiver: checks each sender's order, reports patches to the tracker and, while recording, their
/// send-to-receive time in microseconds. Messages of other runs (an old history) are counted apart.
/// </summary>
public sealed class ReceiverSink : IMessageSink
{
    private readonly uint _runId;
    private readonly DeliveryTracker? _tracker;
    private readonly LatencyRecorder? _latency;
    private readonly long[] _nextSeq;
    private long _patches;
    private long _foreign;
    private long _outOfOrder;

    /// <summary>A receiver of run <paramref name="runId"/>'s patches from <paramref name="senders"/> senders.</summary>
    public ReceiverSink(uint runId, int senders, DeliveryTracker? tracker, LatencyRecorder? latency)
    {
        _runId = runId;
        _tracker = tracker;
        _latency = latency;
        _nextSeq = new long[senders];
    }

    /// <summary>Patches of this run received.</summary>
    public long Patches => Volatile.Read(ref _patches);

    /// <summary>Messages that were not this run's patches.</summary>
    public long Foreign => Volatile.Read(ref _foreign);

    /// <summary>Patches that came out of a sender's order (a gap or a duplicate).</summary>
    public long OutOfOrder => Volatile.Read(ref _outOfOrder);

    /// <summary>Called when the receiver got its <see cref="Patches"/>th patch; for "reached everyone" timing.</summary>
    public Action<long>? OnPatch { get; init; }

    /// <inheritdoc />
    public void OnMessage(ReadOnlySpan<byte> message)
    {
        if (!Patch.TryRead(message, _runId, out var sender, out var seq, out var timestamp) || sender >= _nextSeq.Length)
        {
            _foreign++;
            return;
        }

        if (seq != _nextSeq[sender])
        {
            _outOfOrder++;
        }

        _nextSeq[sender] = seq + 1;
        _latency?.Record(timestamp);
        _tracker?.OnReceived(sender, seq);
        var count = Interlocked.Increment(ref _patches);
        OnPatch?.Invoke(count);
    }
}
