#nullable enable
using Relay.Actors.Compaction;

namespace Relay.Actors.History;

/// <summary>
/// When the sequencer snapshots, counted from the last snapshot taken or recovered. A compactable document by
/// Automerge's rule alone: once the patches since the last snapshot are as large as the state (and at least
/// <see cref="CompactionFloorBytes"/>), so a large state is written only as often as patches of its size arrive.
/// Otherwise by count or bytes, which bound the recovery: after <see cref="Every"/> patches, or once the patches since
/// the last snapshot reach <see cref="EveryBytes"/> or the size of the last snapshot, whichever is larger.
/// </summary>
internal sealed class SnapshotCadence
{
    private long _nextStateCheck;

    /// <summary>Creates the cadence of <see cref="HistorySettings.SnapshotEvery"/>, <see cref="HistorySettings.SnapshotEveryBytes"/> and <see cref="HistorySettings.CompactionFloorBytes"/>.</summary>
    public SnapshotCadence(int every, long everyBytes, long compactionFloorBytes)
    {
        Every = every;
        EveryBytes = everyBytes;
        CompactionFloorBytes = compactionFloorBytes;
    }

    /// <summary>Snapshot after this many patches.</summary>
    public int Every { get; }

    /// <summary>Snapshot once the patches since the last snapshot reach this many payload bytes (or the last snapshot's size).</summary>
    public long EveryBytes { get; }

    /// <summary>With compaction, never snapshot for fewer payload bytes than this.</summary>
    public long CompactionFloorBytes { get; }

    /// <summary>The sequence number of the last snapshot taken or recovered; 0: none.</summary>
    public long LastSnapshotSequence { get; private set; }

    /// <summary>About how large the last snapshot was, in bytes.</summary>
    public long LastSnapshotBytes { get; private set; }

    /// <summary>The payload bytes journaled (or replayed) since the last snapshot.</summary>
    public long TailBytes { get; private set; }

    /// <summary>The cadence of a sequencer with <paramref name="settings"/>.</summary>
    public static SnapshotCadence Of(HistorySettings settings) =>
        new(settings.SnapshotEvery, settings.SnapshotEveryBytes, settings.CompactionFloorBytes);

    /// <summary>A patch of <paramref name="payloadBytes"/> was journaled, or replayed in recovery.</summary>
    public void Journaled(long payloadBytes) => TailBytes += payloadBytes;

    /// <summary>A snapshot of about <paramref name="snapshotBytes"/> at <paramref name="sequence"/> was taken, or recovered from.</summary>
    public void Taken(long sequence, long snapshotBytes)
    {
        LastSnapshotSequence = sequence;
        LastSnapshotBytes = snapshotBytes;
        TailBytes = 0;
        _nextStateCheck = 0;
    }

    /// <summary>
    /// Whether a snapshot is due at <paramref name="lastSequence"/>; <paramref name="compactable"/> is the document's
    /// fold while every patch so far folded, else null. The state is written to measure it only when the tail has
    /// grown by a quarter since the last look, or reached the size last measured.
    /// </summary>
    public bool Due(long lastSequence, DocumentFold? compactable)
    {
        if (compactable is null)
        {
            return lastSequence - LastSnapshotSequence >= Every || TailBytes >= Math.Max(EveryBytes, LastSnapshotBytes);
        }

        if (TailBytes < Math.Max(CompactionFloorBytes, _nextStateCheck))
        {
            return false;
        }

        var size = compactable.StateUtf8()?.Length;
        if (size is null || TailBytes >= size)
        {
            // Due, or the state just turned out too deep to write: either way a snapshot records it.
            return true;
        }

        _nextStateCheck = Math.Max(size.Value, TailBytes + (TailBytes / 4) + 1);
        return false;
    }
}
