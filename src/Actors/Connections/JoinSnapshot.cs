#nullable enable
namespace Relay.Actors.Connections;

/// <summary>
/// A document's snapshot as its joiners on one node receive it, shared by all of them: the patch that replaces the
/// root with the state folded up to <paramref name="Sequence"/>, and the last frame of each named client
/// (<c>client/…</c>) folded into it, for that client's cumulative ack.
/// </summary>
internal sealed record JoinSnapshot(long Sequence, ReadOnlyMemory<byte> Patch, IReadOnlyDictionary<string, long> Frames)
{
    /// <summary>
    /// The journal before the snapshot may have been deleted (<c>Relay:Compaction:DeleteCompacted</c>): a client that
    /// asks to resume from before it gets a full join from the snapshot instead.
    /// </summary>
    public bool HistoryDeleted { get; init; }

    /// <summary>The journal is trimmed through this sequence number (the server API's trim, retention): nobody resumes from before it.</summary>
    public long TrimmedThrough { get; init; }

    /// <summary>Whether a client holding everything up to <paramref name="after"/> can still resume from the journal.</summary>
    public bool AllowsResumeAfter(long after) => (!HistoryDeleted || after >= Sequence) && after >= TrimmedThrough;
}
