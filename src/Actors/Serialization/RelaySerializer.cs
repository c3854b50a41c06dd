#nullable enable
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;
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
    private const string HistoryHeartbeatManifest = "H";
    private const string HistorySnapshotManifest = "S";

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
        HistoryHeartbeat => HistoryHeartbeatManifest,
        HistorySnapshot => HistorySnapshotManifest,
        _ => throw new ArgumentException($"Cannot serialize {o.GetType()} with {nameof(RelaySerializer)}", nameof(o)),
    };

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => obj switch
    {
        AppendPatch m => new Proto.AppendPatch
        {
            ConnectionId = m.ConnectionId,
            FrameNo = m.FrameNo,
            FirstUnconfirmed = m.FirstUnconfirmed,
            Payload = UnsafeByteOperations.UnsafeWrap(m.Payload),
            IsText = m.IsText,
        }.ToByteArray(),
        AppendPatchResponse m => new Proto.AppendPatchResponse
        {
            ConnectionId = m.ConnectionId,
            FrameNo = m.FrameNo,
            Sequence = m.Sequence,
        }.ToByteArray(),
        PatchAppended m => new Proto.PatchAppended
        {
            Sequence = m.Sequence,
            OriginConnectionId = m.OriginConnectionId,
            FrameNo = m.FrameNo,
            Payload = UnsafeByteOperations.UnsafeWrap(m.Payload),
            IsText = m.IsText,
        }.ToByteArray(),
        HistoryHeartbeat m => new Proto.HistoryHeartbeat { LastSequence = m.LastSequence }.ToByteArray(),
        HistorySnapshot m => ToProto(m).ToByteArray(),
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
                return new AppendPatch(m.ConnectionId, m.FrameNo, m.FirstUnconfirmed, m.Payload.Memory, m.IsText);
            }
            case AppendPatchResponseManifest:
            {
                var m = Proto.AppendPatchResponse.Parser.ParseFrom(bytes);
                return new AppendPatchResponse(m.ConnectionId, m.FrameNo, m.Sequence);
            }
            case PatchAppendedManifest:
            {
                var m = Proto.PatchAppended.Parser.ParseFrom(bytes);
                return new PatchAppended(m.Sequence, m.OriginConnectionId, m.FrameNo, m.Payload.Memory, m.IsText);
            }
            case HistoryHeartbeatManifest:
                return new HistoryHeartbeat(Proto.HistoryHeartbeat.Parser.ParseFrom(bytes).LastSequence);
            case HistorySnapshotManifest:
            {
                var m = Proto.HistorySnapshot.Parser.ParseFrom(bytes);
                var cursors = m.Cursors.Select(c => new ConnectionCursor(c.ConnectionId, c.FrameNo, c.Sequence)).ToArray();
                return new HistorySnapshot(m.LastSequence, cursors);
            }
            default:
                throw new System.Runtime.Serialization.SerializationException($"Unknown manifest '{manifest}' for {nameof(RelaySerializer)}");
        }
    }

    private static Proto.HistorySnapshot ToProto(HistorySnapshot snapshot)
    {
        var proto = new Proto.HistorySnapshot { LastSequence = snapshot.LastSequence };
        foreach (var c in snapshot.Cursors)
        {
            proto.Cursors.Add(new Proto.ConnectionCursor { ConnectionId = c.ConnectionId, FrameNo = c.FrameNo, Sequence = c.Sequence });
        }

        return proto;
    }
}
