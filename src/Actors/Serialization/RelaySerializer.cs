#nullable enable
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
using Relay.Actors.Documents;
using Relay.Actors.Messages;
using Proto = Relay.Actors.Serialization.Proto;

namespace Relay.Actors.Serialization;

/// <summary>
/// Protobuf serializer for everything Relay journals or sends between nodes. Manifests are short
/// and stable: they are stored in the journal next to every patch.
/// </summary>
public sealed class RelaySerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id; stored in the journal, so it never changes.</summary>
    public const int SerializerId = 4711;

    private const string AppendPatchManifest = "A";
    private const string AppendPatchResponseManifest = "AR";
    private const string PatchAppendedManifest = "P";
    private const string PatchesAppendedManifest = "PS";
    private const string HistoryHeartbeatManifest = "H";
    private const string HistorySnapshotManifest = "S";
    private const string OpenDocumentManifest = "O";
    private const string DocumentOpenedManifest = "OR";
    private const string PresenceGossipManifest = "PG";
    private const string PresenceBroadcastManifest = "PB";
    private const string DeleteHistoryManifest = "D";
    private const string TrimHistoryManifest = "T";
    private const string HistoryEditedManifest = "E";

    /// <summary>Creates the serializer for <paramref name="system"/>.</summary>
    public RelaySerializer(ExtendedActorSystem system) : base(system)
    {
    }

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <inheritdoc />
    public override string Manifest(object o) => o switch
    {
        AppendPatch => AppendPatchManifest,
        AppendPatchResponse => AppendPatchResponseManifest,
        PatchAppended => PatchAppendedManifest,
        PatchesAppended => PatchesAppendedManifest,
        HistoryHeartbeat => HistoryHeartbeatManifest,
        HistorySnapshot => HistorySnapshotManifest,
        OpenDocument => OpenDocumentManifest,
        DocumentOpened => DocumentOpenedManifest,
        PresenceGossip => PresenceGossipManifest,
        PresenceBroadcast => PresenceBroadcastManifest,
        DeleteHistory => DeleteHistoryManifest,
        TrimHistory => TrimHistoryManifest,
        HistoryEdited => HistoryEditedManifest,
        _ => throw new ArgumentException($"Cannot serialize {o.GetType()} with {nameof(RelaySerializer)}", nameof(o)),
    };

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => obj switch
    {
        AppendPatch m => ToProto(m).ToByteArray(),
        AppendPatchResponse m => new Proto.AppendPatchResponse
        {
            ConnectionId = m.ConnectionId,
            FrameNo = m.FrameNo,
            Sequence = m.Sequence,
            Outcome = (int)m.Outcome,
            JournaledFrame = m.JournaledFrame,
            Epoch = unchecked((ulong)m.Epoch),
        }.ToByteArray(),
        PatchAppended m => ToProto(m).ToByteArray(),
        PatchesAppended m => ToProto(m).ToByteArray(),
        HistoryHeartbeat m => new Proto.HistoryHeartbeat { LastSequence = m.LastSequence, Epoch = unchecked((ulong)m.Epoch), JoinSnapshot = m.JoinSnapshot, TrimmedThrough = m.TrimmedThrough }.ToByteArray(),
        HistorySnapshot m => ToProto(m).ToByteArray(),
        OpenDocument m => new Proto.OpenDocument { Document = m.Document.Value, Client = m.Client ?? "" }.ToByteArray(),
        DocumentOpened m => new Proto.DocumentOpened
        {
            Document = m.Document.Value,
            LastSequence = m.LastSequence,
            Epoch = unchecked((ulong)m.Epoch),
            JoinSnapshot = m.JoinSnapshot,
            ClientLastFrame = m.ClientLastFrame,
            TrimmedThrough = m.TrimmedThrough,
        }.ToByteArray(),
        DeleteHistory m => new Proto.DeleteHistory { Document = m.Document.Value }.ToByteArray(),
        TrimHistory m => new Proto.TrimHistory { Document = m.Document.Value, Before = m.Before, UpToSnapshot = m.UpToSnapshot }.ToByteArray(),
        HistoryEdited m => new Proto.HistoryEdited
        {
            Document = m.Document.Value,
            Outcome = (int)m.Outcome,
            Through = m.Through,
            Head = m.Head,
            Epoch = unchecked((ulong)m.Epoch),
            JoinSnapshot = m.JoinSnapshot,
            Reason = m.Reason ?? "",
        }.ToByteArray(),
        PresenceGossip m => ToProto(m).ToByteArray(),
        PresenceBroadcast m => new Proto.PresenceBroadcast
        {
            Document = m.Document.Value,
            Node = m.Node,
            Client = m.Client,
            User = m.User,
            Payload = UnsafeByteOperations.UnsafeWrap(m.Payload),
            IsText = m.IsText,
        }.ToByteArray(),
        _ => throw new ArgumentException($"Cannot serialize {obj.GetType()} with {nameof(RelaySerializer)}", nameof(obj)),
    };

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        switch (manifest)
        {
            case AppendPatchManifest:
            {
                var m = Proto.AppendPatch.Parser.ParseFrom(bytes);
                return new AppendPatch(DocumentName.Parse(m.Document), m.ConnectionId, m.FrameNo, m.FirstUnconfirmed, m.Payload.Memory, m.IsText)
                {
                    ExpectedHead = m.HasExpectedHead ? m.ExpectedHead : null,
                    FromApi = m.FromApi,
                };
            }
            case AppendPatchResponseManifest:
            {
                var m = Proto.AppendPatchResponse.Parser.ParseFrom(bytes);
                return new AppendPatchResponse(m.ConnectionId, m.FrameNo, m.Sequence) { Outcome = (AppendOutcome)m.Outcome, JournaledFrame = m.JournaledFrame, Epoch = unchecked((long)m.Epoch) };
            }
            case PatchAppendedManifest:
                return FromProto(Proto.PatchAppended.Parser.ParseFrom(bytes));
            case PatchesAppendedManifest:
                return new PatchesAppended(Proto.PatchesAppended.Parser.ParseFrom(bytes).Patches.Select(FromProto).ToArray());
            case HistoryHeartbeatManifest:
            {
                var m = Proto.HistoryHeartbeat.Parser.ParseFrom(bytes);
                return new HistoryHeartbeat(m.LastSequence, unchecked((long)m.Epoch)) { JoinSnapshot = m.JoinSnapshot, TrimmedThrough = m.TrimmedThrough };
            }
            case HistorySnapshotManifest:
            {
                var m = Proto.HistorySnapshot.Parser.ParseFrom(bytes);
                var cursors = m.Cursors.Select(c => new ConnectionCursor(c.ConnectionId, c.FrameNo, c.Sequence, unchecked((long)c.PayloadHash))).ToArray();
                return new HistorySnapshot(m.LastSequence, cursors, unchecked((long)m.Epoch))
                {
                    CompactionMode = (Compaction.CompactionMode)m.CompactionMode,
                    State = m.State.Memory,
                    Compactable = m.Compactable,
                    NotCompactableReason = m.NotCompactableReason.Length == 0 ? null : m.NotCompactableReason,
                    JoinSnapshot = m.JoinSnapshot,
                    TrimmedThrough = m.TrimmedThrough,
                };
            }
            case OpenDocumentManifest:
                {
                var m = Proto.OpenDocument.Parser.ParseFrom(bytes);
                return new OpenDocument(DocumentName.Parse(m.Document)) { Client = m.Client.Length == 0 ? null : m.Client };
            }
            case DocumentOpenedManifest:
            {
                var m = Proto.DocumentOpened.Parser.ParseFrom(bytes);
                return new DocumentOpened(DocumentName.Parse(m.Document), m.LastSequence, unchecked((long)m.Epoch)) { JoinSnapshot = m.JoinSnapshot, ClientLastFrame = m.ClientLastFrame, TrimmedThrough = m.TrimmedThrough };
            }
            case PresenceGossipManifest:
            {
                var m = Proto.PresenceGossip.Parser.ParseFrom(bytes);
                return new PresenceGossip(DocumentName.Parse(m.Document), m.Node, m.Present.Select(FromProto).ToArray(), m.Left.Select(FromProto).ToArray())
                {
                    Heartbeat = m.Heartbeat,
                    AskBack = m.AskBack,
                };
            }
            case PresenceBroadcastManifest:
            {
                var m = Proto.PresenceBroadcast.Parser.ParseFrom(bytes);
                return new PresenceBroadcast(DocumentName.Parse(m.Document), m.Node, m.Client, m.User, m.Payload.Memory, m.IsText);
            }
            case DeleteHistoryManifest:
                return new DeleteHistory(DocumentName.Parse(Proto.DeleteHistory.Parser.ParseFrom(bytes).Document));
            case TrimHistoryManifest:
            {
                var m = Proto.TrimHistory.Parser.ParseFrom(bytes);
                return new TrimHistory(DocumentName.Parse(m.Document), m.Before) { UpToSnapshot = m.UpToSnapshot };
            }
            case HistoryEditedManifest:
            {
                var m = Proto.HistoryEdited.Parser.ParseFrom(bytes);
                return new HistoryEdited(DocumentName.Parse(m.Document), (HistoryEditOutcome)m.Outcome, m.Through)
                {
                    Head = m.Head,
                    Epoch = unchecked((long)m.Epoch),
                    JoinSnapshot = m.JoinSnapshot,
                    Reason = m.Reason.Length == 0 ? null : m.Reason,
                };
            }
            default:
                throw new System.Runtime.Serialization.SerializationException($"Unknown manifest '{manifest}' for {nameof(RelaySerializer)}");
        }
    }

    private static Proto.AppendPatch ToProto(AppendPatch append)
    {
        var proto = new Proto.AppendPatch
        {
            ConnectionId = append.ConnectionId,
            FrameNo = append.FrameNo,
            FirstUnconfirmed = append.FirstUnconfirmed,
            Payload = UnsafeByteOperations.UnsafeWrap(append.Payload),
            IsText = append.IsText,
            Document = append.Document.Value,
            FromApi = append.FromApi,
        };
        if (append.ExpectedHead is { } head)
        {
            proto.ExpectedHead = head;
        }

        return proto;
    }

    private static Proto.PatchAppended ToProto(PatchAppended patch) => new()
    {
        Sequence = patch.Sequence,
        OriginConnectionId = patch.OriginConnectionId,
        FrameNo = patch.FrameNo,
        Payload = UnsafeByteOperations.UnsafeWrap(patch.Payload),
        IsText = patch.IsText,
        Epoch = unchecked((ulong)patch.Epoch),
    };

    private static Proto.PatchesAppended ToProto(PatchesAppended patches)
    {
        var proto = new Proto.PatchesAppended();
        proto.Patches.AddRange(patches.Patches.Select(ToProto));
        return proto;
    }

    private static PatchAppended FromProto(Proto.PatchAppended m) =>
        new(m.Sequence, m.OriginConnectionId, m.FrameNo, m.Payload.Memory, m.IsText) { Epoch = unchecked((long)m.Epoch) };

    private static Proto.HistorySnapshot ToProto(HistorySnapshot snapshot)
    {
        var proto = new Proto.HistorySnapshot
        {
            LastSequence = snapshot.LastSequence,
            Epoch = unchecked((ulong)snapshot.Epoch),
            CompactionMode = (int)snapshot.CompactionMode,
            State = UnsafeByteOperations.UnsafeWrap(snapshot.State),
            Compactable = snapshot.Compactable,
            NotCompactableReason = snapshot.NotCompactableReason ?? "",
            JoinSnapshot = snapshot.JoinSnapshot,
            TrimmedThrough = snapshot.TrimmedThrough,
        };
        foreach (var c in snapshot.Cursors)
        {
            proto.Cursors.Add(new Proto.ConnectionCursor { ConnectionId = c.ConnectionId, FrameNo = c.FrameNo, Sequence = c.Sequence, PayloadHash = unchecked((ulong)c.PayloadHash) });
        }

        return proto;
    }

    private static Proto.PresenceGossip ToProto(PresenceGossip gossip)
    {
        var proto = new Proto.PresenceGossip { Document = gossip.Document.Value, Node = gossip.Node, Heartbeat = gossip.Heartbeat, AskBack = gossip.AskBack };
        proto.Present.AddRange(gossip.Present.Select(ToProto));
        proto.Left.AddRange(gossip.Left.Select(ToProto));
        return proto;
    }

    private static Proto.PresenceEntry ToProto(Presence.PresenceEntry entry) => new()
    {
        Client = entry.Client,
        User = entry.User,
        State = UnsafeByteOperations.UnsafeWrap(entry.State),
        Node = entry.Node,
        Incarnation = entry.Incarnation,
    };

    private static Presence.PresenceEntry FromProto(Proto.PresenceEntry entry) =>
        new(entry.Client, entry.User, entry.State.Memory, entry.Node, entry.Incarnation);
}
