#nullable enable
using Relay.Actors.Documents;

namespace Relay.Actors.Messages;

/// <summary>
/// Marker for every message that crosses nodes or is journaled; all of them are bound to
/// <see cref="Serialization.RelaySerializer"/>.
/// </summary>
public interface IRelayMessage;

/// <summary>A message for the sequencer of one document; the placement routes it by <see cref="Document"/>.</summary>
public interface IDocumentCommand : IRelayMessage
{
    /// <summary>The document whose sequencer takes the message.</summary>
    DocumentName Document { get; }
}

/// <summary>
/// A client's frame sent to the sequencer of <paramref name="Document"/>. <paramref name="FrameNo"/> counts the
/// connection's frames from 1; <paramref name="FirstUnconfirmed"/> is the oldest frame the connection still
/// waits on, so the sequencer can take up a connection it has no record of without reordering.
/// </summary>
public sealed record AppendPatch(
    DocumentName Document,
    string ConnectionId,
    long FrameNo,
    long FirstUnconfirmed,
    ReadOnlyMemory<byte> Payload,
    bool IsText) : IDocumentCommand
{
    /// <summary>
    /// Journal it only if the document's head (the last sequence number given out) is still this one when the
    /// sequencer takes it; otherwise the answer is <see cref="AppendOutcome.HeadMoved"/>. Null: no condition.
    /// </summary>
    public long? ExpectedHead { get; init; }

    /// <summary>
    /// Sent by the server API, which has no connection resending in order behind it: the sequencer answers every
    /// append it does not journal (<see cref="AppendOutcome.OutOfOrder"/> too) instead of waiting for a resend.
    /// </summary>
    public bool FromApi { get; init; }
}

/// <summary>What the sequencer made of an append (<see cref="AppendPatchResponse.Outcome"/>).</summary>
public enum AppendOutcome
{
    /// <summary>Journaled, now or before with the same payload: every frame up to it is confirmed.</summary>
    Journaled = 0,

    /// <summary>
    /// Its id is below the last one journaled under the client (<see cref="AppendPatchResponse.JournaledFrame"/>):
    /// a resend, if the client's next frames reach that one with its payload. Neither journaled nor confirmed.
    /// </summary>
    Behind = 1,

    /// <summary>Its id was journaled under the client with another payload: another writer uses the client's name.</summary>
    Conflict = 2,

    /// <summary>
    /// Its <see cref="AppendPatch.ExpectedHead"/> is no longer the head: <see cref="AppendPatchResponse.Sequence"/> is
    /// the head, journaled. Neither journaled nor confirmed.
    /// </summary>
    HeadMoved = 3,

    /// <summary>
    /// Only to the server API (<see cref="AppendPatch.FromApi"/>): its id is not one more than the client's last
    /// (<see cref="AppendPatchResponse.JournaledFrame"/>). Neither journaled nor confirmed.
    /// </summary>
    OutOfOrder = 4,
}

/// <summary>
/// The sequencer's answer to an append: with <see cref="AppendOutcome.Journaled"/>, every frame of the connection up
/// to <paramref name="FrameNo"/> is journaled; <paramref name="Sequence"/> is the frame's, or the client's last one's.
/// </summary>
public sealed record AppendPatchResponse(string ConnectionId, long FrameNo, long Sequence) : IRelayMessage
{
    /// <summary>Journaled, or why not.</summary>
    public AppendOutcome Outcome { get; init; }

    /// <summary>With <see cref="AppendOutcome.Behind"/>: the last frame journaled under the client.</summary>
    public long JournaledFrame { get; init; }

    /// <summary>The epoch of the history <see cref="Sequence"/> belongs to; 0: not said (an older node).</summary>
    public long Epoch { get; init; }
}

/// <summary>
/// A patch that is journaled under <paramref name="Sequence"/>; published on the topic only after the journal write.
/// <paramref name="OriginConnectionId"/> is the sender's identity for deduplication: its connection's id, or for a
/// <c>relay.v1</c> client that named itself, the client (<see cref="Connections.ClientProtocol.OriginFor"/>).
/// </summary>
public sealed record PatchAppended(
    long Sequence,
    string OriginConnectionId,
    long FrameNo,
    ReadOnlyMemory<byte> Payload,
    bool IsText) : IRelayMessage
{
    /// <summary>On a document's first patch only: the document's epoch, journaled with it. 0 elsewhere.</summary>
    public long Epoch { get; init; }
}

/// <summary>
/// Patches journaled together, in order, published on the topic as one message: each subscriber gets a commit's worth
/// of patches at once instead of one message per patch. The sequencer groups at most <see cref="MaxBytes"/> of
/// payload in one (a bigger patch travels alone as a <see cref="PatchAppended"/>), well below Akka.Remote's frame size.
/// </summary>
public sealed record PatchesAppended(IReadOnlyList<PatchAppended> Patches) : IRelayMessage
{
    /// <summary>The most payload bytes (with a per-patch allowance for the rest) one message groups.</summary>
    public const int MaxBytes = 64 * 1024;

    /// <summary>What <paramref name="patch"/> counts towards <see cref="MaxBytes"/>: its payload and an allowance for its other fields.</summary>
    public static int SizeOf(PatchAppended patch) => patch.Payload.Length + 64 + patch.OriginConnectionId.Length;

    /// <summary>
    /// What to publish for <paramref name="patches"/> (in order): a lone patch as itself, runs of several as one
    /// <see cref="PatchesAppended"/> each, none over <see cref="MaxBytes"/> unless it holds one patch only.
    /// </summary>
    public static IReadOnlyList<IRelayMessage> Group(IReadOnlyList<PatchAppended> patches)
    {
        var messages = new List<IRelayMessage>(1);
        var start = 0;
        var bytes = 0;
        for (var i = 0; i < patches.Count; i++)
        {
            var size = SizeOf(patches[i]);
            if (i > start && bytes + size > MaxBytes)
            {
                messages.Add(Of(patches, start, i));
                start = i;
                bytes = 0;
            }

            bytes += size;
        }

        if (patches.Count > start)
        {
            messages.Add(Of(patches, start, patches.Count));
        }

        return messages;
    }

    private static IRelayMessage Of(IReadOnlyList<PatchAppended> patches, int from, int to) =>
        to - from == 1 ? patches[from] : new PatchesAppended(patches.Skip(from).Take(to - from).ToArray());
}

/// <summary>
/// A node opens <paramref name="Document"/>: its sequencer starts (recovering from the journal) if it is not
/// running, and answers with <see cref="DocumentOpened"/>.
/// </summary>
public sealed record OpenDocument(DocumentName Document) : IDocumentCommand
{
    /// <summary>A named client's origin (<see cref="Connections.ClientProtocol.OriginFor"/>): the answer names its last journaled id.</summary>
    public string? Client { get; init; }
}

/// <summary>
/// The sequencer of <paramref name="Document"/> runs; everything up to <paramref name="LastSequence"/> is journaled.
/// <paramref name="Epoch"/> names this history: it changes when the history is reset or replaced.
/// </summary>
public sealed record DocumentOpened(DocumentName Document, long LastSequence, long Epoch = 0) : IRelayMessage, Akka.Event.IDeadLetterSuppression
{
    /// <summary>The last frame journaled under <see cref="OpenDocument.Client"/>; 0 for none.</summary>
    public long ClientLastFrame { get; init; }

    /// <summary>The sequence number of the snapshot joiners start from (compaction); 0: they replay the whole history.</summary>
    public long JoinSnapshot { get; init; }

    /// <summary>The journal is trimmed up to and including this sequence number (<see cref="TrimHistory"/>); 0: not trimmed.</summary>
    public long TrimmedThrough { get; init; }
}

/// <summary>Published by the sequencer on a cadence so that a node notices a patch the topic failed to deliver.</summary>
public sealed record HistoryHeartbeat(long LastSequence, long Epoch = 0) : IRelayMessage
{
    /// <summary>The sequence number of the snapshot joiners start from (compaction); 0: they replay the whole history.</summary>
    public long JoinSnapshot { get; init; }

    /// <summary>The journal is trimmed up to and including this sequence number (<see cref="TrimHistory"/>); 0: not trimmed.</summary>
    public long TrimmedThrough { get; init; }
}

/// <summary>
/// The last frame the sequencer journaled for one connection, and a hash of its payload (0: not known, an old
/// snapshot), so that a later frame under the same id with another payload is told apart from a resend.
/// </summary>
public sealed record ConnectionCursor(string ConnectionId, long FrameNo, long Sequence, long PayloadHash = 0);

/// <summary>The sequencer's snapshot: its last sequence number, its deduplication cursors and the document's epoch (0: not known, an old snapshot).</summary>
public sealed record HistorySnapshot(long LastSequence, IReadOnlyList<ConnectionCursor> Cursors, long Epoch = 0) : IRelayMessage
{
    /// <summary><c>Relay:Compaction:Mode</c> when the snapshot was written.</summary>
    public Compaction.CompactionMode CompactionMode { get; init; }

    /// <summary>The document's state folded up to <see cref="LastSequence"/>, UTF-8 JSON; empty unless <see cref="Compactable"/>.</summary>
    public ReadOnlyMemory<byte> State { get; init; }

    /// <summary>Whether every patch up to <see cref="LastSequence"/> folded into <see cref="State"/>.</summary>
    public bool Compactable { get; init; }

    /// <summary>Why the document is not compactable (compaction on, not <see cref="Compactable"/>).</summary>
    public string? NotCompactableReason { get; init; }

    /// <summary>
    /// In a snapshot that is not compactable: the earlier, compactable snapshot joiners still start from, because
    /// the journal events it covers were deleted (<c>Relay:Compaction:DeleteCompacted</c>); 0: none.
    /// </summary>
    public long JoinSnapshot { get; init; }

    /// <summary>The journal up to and including this sequence number was trimmed (<see cref="TrimHistory"/>); 0: never.</summary>
    public long TrimmedThrough { get; init; }
}

/// <summary>
/// The server API deletes <paramref name="Document"/>'s whole history: every event and snapshot of it leaves the
/// journal, its connections are closed, and its next history starts at sequence number 1 under a new epoch.
/// Answered with <see cref="HistoryEdited"/>.
/// </summary>
public sealed record DeleteHistory(DocumentName Document) : IDocumentCommand;

/// <summary>
/// Drops <paramref name="Document"/>'s journal events before <paramref name="Before"/> (the server API's trim, and
/// retention), only where the snapshot joiners start from covers them (compaction). Answered with
/// <see cref="HistoryEdited"/>.
/// </summary>
public sealed record TrimHistory(DocumentName Document, long Before) : IDocumentCommand
{
    /// <summary>Retention: trim no further than the snapshot joiners start from, rather than refuse a <see cref="Before"/> past it.</summary>
    public bool UpToSnapshot { get; init; }
}

/// <summary>What became of a <see cref="DeleteHistory"/> or <see cref="TrimHistory"/>.</summary>
public enum HistoryEditOutcome
{
    /// <summary>Done (a trim with nothing left to drop included).</summary>
    Done = 0,

    /// <summary>The document has no history.</summary>
    NotFound = 1,

    /// <summary>A trim the document's snapshots do not cover: compaction is off, or no snapshot reaches that far (<see cref="HistoryEdited.Reason"/>).</summary>
    NotKept = 2,

    /// <summary>A trim past the head.</summary>
    Bad = 3,

    /// <summary>The journal or the snapshot store failed; nothing changed (a delete is one transaction).</summary>
    Failed = 4,
}

/// <summary>
/// The sequencer's answer to <see cref="DeleteHistory"/> and <see cref="TrimHistory"/>: <paramref name="Through"/> is
/// the last sequence number deleted (a delete) or the one the journal is now trimmed through (a trim).
/// </summary>
public sealed record HistoryEdited(DocumentName Document, HistoryEditOutcome Outcome, long Through) : IRelayMessage
{
    /// <summary>The document's head when answered (a delete: the deleted history's).</summary>
    public long Head { get; init; }

    /// <summary>The document's epoch when answered (a delete: the deleted history's).</summary>
    public long Epoch { get; init; }

    /// <summary>The snapshot joiners start from when answered; 0: none.</summary>
    public long JoinSnapshot { get; init; }

    /// <summary>Why not, for <see cref="HistoryEditOutcome.NotKept"/>, <see cref="HistoryEditOutcome.Bad"/> and <see cref="HistoryEditOutcome.Failed"/>.</summary>
    public string? Reason { get; init; }
}

/// <summary>
/// What one node tells the other nodes of the presence of <paramref name="Document"/>'s clients connected to it
/// (<paramref name="Node"/>): entries now present (<paramref name="Present"/>) and entries that left
/// (<paramref name="Left"/>, by client and incarnation; their state is empty). As a <see cref="Heartbeat"/> it is
/// (one chunk of) the node's whole list, which keeps its entries from expiring on the other nodes.
/// </summary>
public sealed record PresenceGossip(
    DocumentName Document,
    string Node,
    IReadOnlyList<Presence.PresenceEntry> Present,
    IReadOnlyList<Presence.PresenceEntry> Left) : IRelayMessage
{
    /// <summary>A heartbeat: the node's entries as they are, refreshed on the receivers.</summary>
    public bool Heartbeat { get; init; }

    /// <summary>From a node that just started listing the document: every node answers it with its heartbeat at once.</summary>
    public bool AskBack { get; init; }
}

/// <summary>
/// A broadcast of client <paramref name="Client"/> (<paramref name="User"/>) of <paramref name="Document"/> on node
/// <paramref name="Node"/>, for the document's <c>relay.v1</c> clients on the other nodes: never journaled or
/// numbered, delivered at most once, in its sender's order.
/// </summary>
public sealed record PresenceBroadcast(
    DocumentName Document,
    string Node,
    string Client,
    string User,
    ReadOnlyMemory<byte> Payload,
    bool IsText) : IRelayMessage;
