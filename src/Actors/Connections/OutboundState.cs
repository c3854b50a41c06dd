#nullable enable
using Relay.Actors.Fanout;
using Relay.Actors.Messages;

namespace Relay.Actors.Connections;

/// <summary>What the connection does next with its outbound side.</summary>
internal enum OutboundStep
{
    /// <summary>Nothing: the connection is live, or a read is running.</summary>
    None,

    /// <summary>Read the journal from <see cref="OutboundState.ReadFrom"/> to <see cref="OutboundState.ReadTo"/>.</summary>
    Read,

    /// <summary>The last read made no progress (the rows are being committed): read the same range again shortly.</summary>
    ReadAgainSoon,
}

/// <summary>
/// A connection's outbound protocol, without an actor: the delivery cursor, the live patches held while the
/// connection reads the history, and the catch-up. The node's hub gives every connection the document's
/// patches after a head it names (<see cref="Join"/>), in order and without gaps; the connection reads the
/// journal up to that head and delivers what the hub sent meanwhile after it, each sequence number once.
/// The held patches are bounded in count and bytes: past either limit they are dropped and read from the journal
/// instead. Sequence numbers need not be contiguous: a hole in the journal is skipped by the read and by the hub.
/// </summary>
internal sealed class OutboundState
{
    private readonly HeldPatches _held;
    private bool _joined;
    private bool _overflowed;

    /// <summary>
    /// Creates the state; at most <paramref name="limits"/> of live patches are held during a catch-up.
    /// </summary>
    public OutboundState(HeldLimits limits)
    {
        _held = new HeldPatches(limits);
    }

    /// <summary>The next sequence number to deliver.</summary>
    public long Next { get; private set; } = 1;

    /// <summary>Whether a journal read is running or due.</summary>
    public bool CatchingUp { get; private set; }

    /// <summary>The first sequence number of the read to start.</summary>
    public long ReadFrom => Next;

    /// <summary>The last sequence number of the read to start.</summary>
    public long ReadTo { get; private set; }

    /// <summary>Live patches held while catching up.</summary>
    public int Held => _held.Count;

    /// <summary>Payload bytes of the live patches held while catching up.</summary>
    public long HeldBytes => _held.Bytes;

    /// <summary>The latest sequence number the hub named or sent: the journal has every row up to it.</summary>
    public long LatestSeen { get; private set; }

    /// <summary>Before the join: the client already holds everything up to <paramref name="after"/> (a resume).</summary>
    public void StartAfter(long after)
    {
        if (!_joined)
        {
            Next = Math.Max(Next, after + 1);
        }
    }

    /// <summary>
    /// The hub's head: everything up to <paramref name="head"/> is in the journal, the rest comes live. Returns the live
    /// patches to deliver now, in order, and what to do next.
    /// </summary>
    public (IReadOnlyList<PatchAppended> Deliver, OutboundStep Next) Join(long head)
    {
        _joined = true;
        LatestSeen = Math.Max(LatestSeen, head);
        CatchingUp = true;
        if (head >= Next)
        {
            ReadTo = head;
            return ([], OutboundStep.Read);
        }

        // Nothing to read: the client holds everything up to the head (a resume or a snapshot at it, an empty history).
        // The hub's patches after the head may have come already, held while the join waited (a named client's join
        // waits for its last id, which after a failover the sequencer names late): they are the next ones, delivered
        // now as after a read, or read from the journal when they did not all fit.
        return OnReadCompleted(head);
    }

    /// <summary>
    /// A live patch from the hub; returns whether to deliver it now. While catching up it is held (or, past the
    /// limit, dropped and read from the journal later).
    /// </summary>
    public bool OnLive(PatchAppended patch)
    {
        LatestSeen = Math.Max(LatestSeen, patch.Sequence);
        if (patch.Sequence < Next)
        {
            return false;
        }

        if (!CatchingUp && _joined)
        {
            Next = patch.Sequence + 1;
            return true;
        }

        if (_overflowed)
        {
            return false;
        }

        // Past the limits nothing is held: the journal has them all, read once this read is done.
        _overflowed = !_held.TryHold(patch);
        return false;
    }

    /// <summary>
    /// A read went through <paramref name="readThrough"/>: it delivered every patch up to there, except in holes of
    /// the journal it skipped. Returns the held patches to deliver now, in order, and what to do next.
    /// </summary>
    public (IReadOnlyList<PatchAppended> Deliver, OutboundStep Next) OnReadCompleted(long readThrough)
    {
        var progressed = readThrough >= Next;
        Next = Math.Max(Next, readThrough + 1);
        if (_overflowed)
        {
            _overflowed = false;
            ReadTo = LatestSeen;
            return ([], ReadTo >= Next ? OutboundStep.Read : Finish());
        }

        _held.DropBelow(Next);
        if (_held.Count > 0 && _held.First > Next)
        {
            // The hub hands on every patch after its head, so the journal has the ones before the first held, or
            // lacks them for good (a hole, which the read skips once it is known): read up to it.
            ReadTo = _held.First - 1;
            return ([], progressed ? OutboundStep.Read : OutboundStep.ReadAgainSoon);
        }

        if (_held.Count == 0)
        {
            if (ReadTo >= Next)
            {
                return ([], progressed ? OutboundStep.Read : OutboundStep.ReadAgainSoon);
            }

            return ([], Finish());
        }

        var deliver = _held.TakeAll();
        Next = deliver[^1].Sequence + 1;
        return (deliver, Finish());
    }

    /// <summary>
    /// The patch <paramref name="sequence"/>, handed out by <see cref="OnReadCompleted"/> (or by the hub at once, after a
    /// gap), did not fit in the client's queue: it and every later one are read from the journal instead, at the client's
    /// pace. The patches before it were delivered. Returns the read to start.
    /// </summary>
    public OutboundStep ReadFromJournal(long sequence)
    {
        // Every patch up to LatestSeen is journaled (the hub named or sent it), this one included.
        Next = sequence;
        CatchingUp = true;
        _overflowed = false;
        _held.Clear();
        ReadTo = Math.Max(LatestSeen, sequence);
        return OutboundStep.Read;
    }

    private OutboundStep Finish()
    {
        CatchingUp = false;
        _held.Release();
        return OutboundStep.None;
    }
}
