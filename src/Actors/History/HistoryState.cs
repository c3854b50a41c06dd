#nullable enable
using Relay.Actors.Compaction;
using Relay.Actors.Messages;

namespace Relay.Actors.History;

/// <summary>What the sequencer decides about an incoming append.</summary>
internal enum AppendDecision
{
    /// <summary>The next frame of its connection: journal it.</summary>
    Accept,

    /// <summary>Already journaled: confirm it again, journal nothing.</summary>
    Duplicate,

    /// <summary>Accepted and still being written: the confirmation is on its way.</summary>
    InFlight,

    /// <summary>An earlier frame of the connection is missing: drop it, the connection resends in order.</summary>
    OutOfOrder,

    /// <summary>
    /// Below the client's last frame taken (journaled or being written): a resend only if the client's frames reach
    /// that one with its payload (a client that resends its unacknowledged patches resends that one too). Journal nothing, confirm
    /// nothing yet: the connection waits for the run to get there.
    /// </summary>
    Behind,

    /// <summary>The client's last frame taken again, with another payload: refuse it, another writer uses the name.</summary>
    Conflict,

    /// <summary>
    /// The next frame of its connection, but its <see cref="AppendPatch.ExpectedHead"/> is not the head (the last number
    /// given out): refuse it, nothing recorded. A resend of a frame already taken is a duplicate first, whatever the head.
    /// </summary>
    HeadMoved,
}

/// <summary>
/// The sequencer's whole state: the sequence numbers (the last assigned and the last journaled), per connection
/// the last journaled frame, and when the next snapshot is due. It holds no patches, so a node's memory does not
/// grow with the history. The cursor table is bounded: past <see cref="MaxCursors"/> the least recently written
/// half is forgotten, which only matters for a connection idle that long that then resends a confirmed frame.
/// </summary>
internal sealed class HistoryState
{
    private readonly Dictionary<string, Cursor> _cursors = new(StringComparer.Ordinal);
    private readonly CompactionMode _mode;
    private readonly ReadOnlyMemory<byte> _initialState;
    private readonly bool _deleteCompacted;
    private long _joinSnapshot;
    private long _lastStateBytes;

    /// <summary>Creates an empty state that keeps at most <paramref name="maxCursors"/> connection cursors.</summary>
    public HistoryState(int maxCursors = 100_000)
        : this(maxCursors, CompactionMode.None, ReadOnlyMemory<byte>.Empty, deleteCompacted: false)
    {
    }

    /// <summary>Creates the empty state of a sequencer with <paramref name="settings"/>.</summary>
    public HistoryState(HistorySettings settings)
        : this(settings.MaxCursors, settings.Compaction, settings.InitialState, settings.DeleteCompacted, SnapshotCadence.Of(settings))
    {
    }

    /// <summary>
    /// Creates an empty state that also folds the patches (<paramref name="mode"/>) from <paramref name="initialState"/>;
    /// with <paramref name="deleteCompacted"/> the journal events its snapshots cover are deleted, so joiners keep
    /// starting from the last compactable snapshot even once the document is no longer compactable. Snapshots are due
    /// by <paramref name="cadence"/> (the production defaults if none).
    /// </summary>
    public HistoryState(int maxCursors, CompactionMode mode, ReadOnlyMemory<byte> initialState, bool deleteCompacted, SnapshotCadence? cadence = null)
    {
        MaxCursors = maxCursors;
        _mode = mode;
        _initialState = initialState;
        _deleteCompacted = deleteCompacted;
        Cadence = cadence ?? SnapshotCadence.Of(HistorySettings.Default);
        Fold = mode == CompactionMode.None ? null : DocumentFold.Start(mode, initialState);
    }

    /// <summary>When the next snapshot is due, counted from the last one taken or recovered.</summary>
    public SnapshotCadence Cadence { get; }

    /// <summary>The document's folded state; null without compaction.</summary>
    public DocumentFold? Fold { get; private set; }

    /// <summary>Whether the document is folded and every patch so far applied.</summary>
    public bool Compactable => Fold is { Compactable: true };

    /// <summary>
    /// The sequence number of the saved snapshot joiners start from; 0: none, they replay the whole history. Once the
    /// document is not compactable that is 0, unless the journal before the snapshot was deleted.
    /// </summary>
    public long JoinSnapshot => Compactable || _deleteCompacted || TrimmedThrough > 0 ? _joinSnapshot : 0;

    /// <summary>
    /// The journal up to and including this sequence number was trimmed away (<see cref="DecideTrim"/>); 0: never. Joiners
    /// start from a snapshot at or past it, and nobody resumes from before it.
    /// </summary>
    public long TrimmedThrough { get; private set; }

    /// <summary>
    /// What a trim of the events before <paramref name="before"/> does now: <see cref="Messages.HistoryEditOutcome.Done"/>
    /// with the sequence number the journal is to be trimmed through (the current <see cref="TrimmedThrough"/> when
    /// nothing is left to drop), or why not. Only what the snapshot joiners start from covers may go; with
    /// <paramref name="upToSnapshot"/> (retention) a <paramref name="before"/> past it is cut down to it instead of refused.
    /// </summary>
    public (Messages.HistoryEditOutcome Outcome, long Through, string? Reason) DecideTrim(long before, bool upToSnapshot)
    {
        if (LastSequence == 0)
        {
            return (Messages.HistoryEditOutcome.NotFound, 0, null);
        }

        if (_mode == CompactionMode.None)
        {
            return (Messages.HistoryEditOutcome.NotKept, TrimmedThrough, "compaction is off (Relay:Compaction:Mode): without a snapshot of the state, nothing of the history can go");
        }

        if (before > LastSequence + 1)
        {
            return (Messages.HistoryEditOutcome.Bad, TrimmedThrough, $"before is past the head ({LastSequence}): at most {LastSequence + 1}");
        }

        var covered = JoinSnapshot;
        var through = before - 1;
        if (through > covered)
        {
            if (!upToSnapshot)
            {
                return (Messages.HistoryEditOutcome.NotKept, TrimmedThrough, covered == 0
                    ? "the document has no snapshot joiners start from yet: nothing of its history can go"
                    : $"the snapshot joiners start from is at {covered}: trim before {covered + 1} at most");
            }

            through = covered;
        }

        return (Messages.HistoryEditOutcome.Done, Math.Max(through, TrimmedThrough), null);
    }

    /// <summary>The journal is to be trimmed through <paramref name="through"/>: the next snapshot says so, and joiners and resumes follow it.</summary>
    public void Trimmed(long through) => TrimmedThrough = Math.Max(TrimmedThrough, through);

    /// <summary>
    /// A snapshot taken at <paramref name="sequence"/> (with the state, if <paramref name="compactable"/>) was saved.
    /// Returns the sequence number of the snapshot joiners started from until now (0: none).
    /// </summary>
    public long SnapshotSaved(long sequence, bool compactable)
    {
        var previous = _joinSnapshot;
        if (compactable && sequence > _joinSnapshot)
        {
            _joinSnapshot = sequence;
        }

        return previous;
    }

    /// <summary>Whether a snapshot is due now, after the last journaled patch (see <see cref="SnapshotCadence"/>).</summary>
    public bool SnapshotDue() => Cadence.Due(LastSequence, Compactable ? Fold : null);

    /// <summary>
    /// Whether the sequencer has reported that its document is not compactable: it says so once, and counts the
    /// document as not compactable while it runs.
    /// </summary>
    public bool NotCompactableReported { get; private set; }

    /// <summary>
    /// True only the first time it is asked once the document is folded but no longer compactable (found in recovery,
    /// by a patch, or by writing the state): the moment to report it.
    /// </summary>
    public bool ReportNotCompactable()
    {
        if (NotCompactableReported || Fold is not { Compactable: false })
        {
            return false;
        }

        NotCompactableReported = true;
        return true;
    }

    /// <summary>The most connection cursors kept.</summary>
    public int MaxCursors { get; }

    /// <summary>The last journaled sequence number; 0 for an empty history.</summary>
    public long LastSequence { get; private set; }

    /// <summary>
    /// The last sequence number handed to an accepted append: ahead of <see cref="LastSequence"/> by the appends being
    /// written, since the journal numbers its events only once a write completes.
    /// </summary>
    public long LastAssigned { get; private set; }

    /// <summary>
    /// The document's epoch: names this history, so that a client's sequence numbers from another history (the
    /// journal reset, replaced or restored to another) are never taken for this one's. 0 until known.
    /// </summary>
    public long Epoch { get; private set; }

    /// <summary>Connections the state currently tracks.</summary>
    public int CursorCount => _cursors.Count;

    /// <summary>Decides what to do with <paramref name="append"/> and, on accept, records the frame as in flight.</summary>
    public AppendDecision Decide(AppendPatch append)
    {
        if (_cursors.TryGetValue(append.ConnectionId, out var cursor))
        {
            if (append.FrameNo < cursor.AcceptedFrame)
            {
                return AppendDecision.Behind;
            }

            if (append.FrameNo == cursor.AcceptedFrame)
            {
                // A snapshot from before payload hashes were kept knows none (0): such a frame is taken for a resend.
                if (cursor.AcceptedHash != 0 && cursor.AcceptedHash != PayloadHash(append.Payload.Span, append.IsText))
                {
                    return AppendDecision.Conflict;
                }

                return append.FrameNo <= cursor.JournaledFrame ? AppendDecision.Duplicate : AppendDecision.InFlight;
            }

            if (append.FrameNo != cursor.AcceptedFrame + 1)
            {
                return AppendDecision.OutOfOrder;
            }

            if (!HeadIs(append.ExpectedHead))
            {
                return AppendDecision.HeadMoved;
            }

            cursor.AcceptedHash = PayloadHash(append.Payload.Span, append.IsText);
            cursor.AcceptedFrame = append.FrameNo;
            return AppendDecision.Accept;
        }

        // No record of this connection: everything before its oldest unconfirmed frame is journaled,
        // so only that frame may come next.
        if (append.FrameNo != append.FirstUnconfirmed)
        {
            return append.FrameNo < append.FirstUnconfirmed ? AppendDecision.Duplicate : AppendDecision.OutOfOrder;
        }

        if (!HeadIs(append.ExpectedHead))
        {
            return AppendDecision.HeadMoved;
        }

        _cursors[append.ConnectionId] = new Cursor
        {
            AcceptedFrame = append.FrameNo,
            JournaledFrame = append.FrameNo - 1,
            AcceptedHash = PayloadHash(append.Payload.Span, append.IsText),
        };
        return AppendDecision.Accept;
    }

    // Checked against the last number given out, not the last journaled: an append taken before this one is ahead of
    // it in the order even while its write is in flight.
    private bool HeadIs(long? expected) => expected is not { } head || head == LastAssigned;

    /// <summary>
    /// Numbers an append <see cref="Decide"/> accepted with the next sequence number, as the event to journal. The
    /// journal numbers events in the order they are persisted, so the numbers given out must be persisted in order.
    /// </summary>
    public PatchAppended AssignNext(AppendPatch accepted)
    {
        var sequence = ++LastAssigned;
        return new PatchAppended(sequence, accepted.ConnectionId, accepted.FrameNo, accepted.Payload, accepted.IsText)
        {
            // The first patch journals the epoch the sequencer picked for the empty history.
            Epoch = sequence == 1 ? Epoch : 0,
        };
    }

    /// <summary>
    /// Recovery is over and the journal's highest sequence number is <paramref name="journalSequenceNr"/>: numbering
    /// continues after it, even if the events that took the last numbers were not replayed.
    /// </summary>
    public void Recovered(long journalSequenceNr) => LastAssigned = Math.Max(LastAssigned, journalSequenceNr);

    /// <summary>
    /// The last frame taken under <paramref name="connectionId"/> (a connection, or a named client): journaled, or
    /// being written. 0 for none.
    /// </summary>
    public long LastFrameOf(string connectionId) =>
        _cursors.TryGetValue(connectionId, out var cursor) ? cursor.AcceptedFrame : 0;

    /// <summary>The sequence number journaled for the connection's last frame, or 0.</summary>
    public long LastSequenceOf(string connectionId) =>
        _cursors.TryGetValue(connectionId, out var cursor) ? cursor.Sequence : 0;

    /// <summary>Applies a journaled event, live or during recovery; with compaction, folds it into the state.</summary>
    public void Apply(PatchAppended patch)
    {
        Fold?.Apply(patch.Payload, patch.IsText);
        if (patch.Sequence == 1)
        {
            // The first patch carries the epoch; one journaled before epochs existed names it by its content.
            Epoch = patch.Epoch != 0 ? patch.Epoch : EpochOf(patch);
        }

        LastSequence = patch.Sequence;
        LastAssigned = Math.Max(LastAssigned, patch.Sequence);
        Cadence.Journaled(patch.Payload.Length);
        if (!_cursors.TryGetValue(patch.OriginConnectionId, out var cursor))
        {
            cursor = new Cursor();
            _cursors[patch.OriginConnectionId] = cursor;
        }

        if (patch.FrameNo >= cursor.JournaledFrame)
        {
            cursor.PayloadHash = PayloadHash(patch.Payload.Span, patch.IsText);
        }

        if (patch.FrameNo >= cursor.AcceptedFrame)
        {
            cursor.AcceptedHash = cursor.PayloadHash;
        }

        cursor.JournaledFrame = Math.Max(cursor.JournaledFrame, patch.FrameNo);
        cursor.AcceptedFrame = Math.Max(cursor.AcceptedFrame, patch.FrameNo);
        cursor.Sequence = patch.Sequence;
        if (_cursors.Count > MaxCursors)
        {
            Evict();
        }
    }

    /// <summary>About how large the state's snapshot is, in bytes: each cursor is an id and four numbers, plus the folded state as last written.</summary>
    public long ApproximateSnapshotBytes => _cursors.Keys.Sum(id => (long)id.Length + 32) + _lastStateBytes;

    /// <summary>
    /// After recovery: an empty history gets a fresh random epoch (journaled with its first patch; a sequencer
    /// that stops before then just picks another), a history recovered from a snapshot older than epochs one
    /// derived from <paramref name="persistenceId"/>.
    /// </summary>
    public void EnsureEpoch(string persistenceId)
    {
        if (Epoch != 0)
        {
            return;
        }

        Epoch = LastSequence == 0
            ? Math.Max(1, Random.Shared.NextInt64())
            : Fnv1a(System.Text.Encoding.UTF8.GetBytes("epoch-of:" + persistenceId), Offset);
    }

    /// <summary>
    /// The state as a snapshot to save, with the folded state when the document is compactable; the
    /// <see cref="Cadence"/> counts from it.
    /// </summary>
    public HistorySnapshot ToSnapshot()
    {
        var state = Fold?.StateUtf8();
        _lastStateBytes = state?.Length ?? 0;
        Cadence.Taken(LastSequence, ApproximateSnapshotBytes);
        return new HistorySnapshot(
            LastSequence,
            _cursors.Select(kv => new ConnectionCursor(kv.Key, kv.Value.JournaledFrame, kv.Value.Sequence, kv.Value.PayloadHash)).ToArray(),
            Epoch)
        {
            CompactionMode = _mode,
            State = state ?? ReadOnlyMemory<byte>.Empty,
            Compactable = state is not null,
            NotCompactableReason = Fold?.NotCompactableReason,
            JoinSnapshot = state is null ? JoinSnapshot : 0,
            TrimmedThrough = TrimmedThrough,
        };
    }

    /// <summary>
    /// Restores the state from a snapshot, and the <see cref="Cadence"/> counts from it. With compaction, a snapshot
    /// written in another mode (or before compaction was on) cannot continue the fold: its document is not compactable.
    /// </summary>
    public void Restore(HistorySnapshot snapshot)
    {
        _cursors.Clear();
        LastSequence = snapshot.LastSequence;
        LastAssigned = snapshot.LastSequence;
        Epoch = snapshot.Epoch;
        TrimmedThrough = snapshot.TrimmedThrough;
        _joinSnapshot = 0;
        if (_mode != CompactionMode.None)
        {
            Fold = RestoreFold(snapshot);
        }

        foreach (var c in snapshot.Cursors)
        {
            _cursors[c.ConnectionId] = new Cursor { AcceptedFrame = c.FrameNo, JournaledFrame = c.FrameNo, Sequence = c.Sequence, PayloadHash = c.PayloadHash, AcceptedHash = c.PayloadHash };
        }

        Cadence.Taken(LastSequence, ApproximateSnapshotBytes);
    }

    private DocumentFold RestoreFold(HistorySnapshot snapshot)
    {
        if (snapshot.LastSequence == 0)
        {
            return DocumentFold.Start(_mode, _initialState);
        }

        if (snapshot.CompactionMode != _mode)
        {
            var written = snapshot.CompactionMode == CompactionMode.None ? "without compaction" : "in compaction mode " + snapshot.CompactionMode;
            return DocumentFold.NotCompactable(_mode, $"its snapshot at sequence {snapshot.LastSequence} was written {written}");
        }

        if (!snapshot.Compactable)
        {
            _joinSnapshot = snapshot.JoinSnapshot;
            return DocumentFold.NotCompactable(_mode, snapshot.NotCompactableReason ?? "not compactable");
        }

        try
        {
            var fold = DocumentFold.Restore(_mode, snapshot.State, null);
            _joinSnapshot = snapshot.LastSequence;
            _lastStateBytes = snapshot.State.Length;
            return fold;
        }
        catch (System.Text.Json.JsonException e)
        {
            return DocumentFold.NotCompactable(_mode, $"its snapshot at sequence {snapshot.LastSequence} holds no readable state: {e.Message}");
        }
    }

    private const ulong Offset = 14695981039346656037;

    private static long EpochOf(PatchAppended first)
    {
        var hash = Fnv1a(System.Text.Encoding.UTF8.GetBytes(first.OriginConnectionId + "/" + first.FrameNo), Offset);
        return Fnv1a(first.Payload.Span, unchecked((ulong)hash));
    }

    // FNV-1a, 64 bits; never 0 (0 means "not known").
    private static long Fnv1a(ReadOnlySpan<byte> bytes, ulong hash)
    {
        foreach (var b in bytes)
        {
            hash = unchecked((hash ^ b) * 1099511628211);
        }

        return hash == 0 ? 1 : unchecked((long)hash);
    }

    /// <summary>
    /// A stable 64-bit hash of a payload and its kind (text or bytes), the same in every process: FNV-1a over
    /// 8-byte words, then the tail, the length and the kind. Never 0 (0 means "not known"). Not cryptographic: it
    /// tells a client's resend from a different patch under a reused id, not a forgery (whoever knows the client's
    /// name may write under it anyway).
    /// </summary>
    internal static long PayloadHash(ReadOnlySpan<byte> payload, bool isText)
    {
        const ulong prime = 1099511628211;
        var hash = Offset;
        var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(payload);
        foreach (var word in words)
        {
            hash = unchecked((hash ^ word) * prime);
            hash ^= hash >> 29;
        }

        foreach (var b in payload[(words.Length * sizeof(ulong))..])
        {
            hash = unchecked((hash ^ b) * prime);
        }

        hash = unchecked((hash ^ (ulong)payload.Length) * prime);
        hash = unchecked((hash ^ (isText ? 1UL : 2UL)) * prime);
        return hash == 0 ? 1 : unchecked((long)hash);
    }

    private void Evict()
    {
        // Deterministic, so recovery and the live actor agree: drop the half written longest ago.
        var cutoff = _cursors.Values.Select(c => c.Sequence).OrderBy(s => s).ElementAt(_cursors.Count / 2);
        foreach (var key in _cursors.Where(kv => kv.Value.Sequence < cutoff && kv.Value.AcceptedFrame == kv.Value.JournaledFrame)
                     .Select(kv => kv.Key).ToList())
        {
            _cursors.Remove(key);
        }
    }

    private sealed class Cursor
    {
        public long AcceptedFrame;
        public long JournaledFrame;
        public long Sequence;
        public long PayloadHash;
        public long AcceptedHash;
    }
}
