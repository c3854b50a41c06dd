using System.Buffers;
using Relay.Actors.Connections;
using Relay.Actors.Documents;

namespace Relay.Gateway.Sockets;

/// <summary>
/// How one client's protocol reads its messages and writes its frames (docs/protocol.md): <see cref="Raw"/>, the
/// original relay's frames, or <see cref="RelayV1"/>. The socket's loops hold one and never ask which it is.
/// </summary>
public abstract class ClientCodec
{
    /// <summary>The original relay's frames: a message is a patch, a patch is its payload, byte for byte.</summary>
    public static readonly ClientCodec Raw = new RawCodec();

    /// <summary>The <c>relay.v1</c> envelope: a header line before each payload, a hello, acknowledgements.</summary>
    public static readonly ClientCodec RelayV1 = new RelayV1Codec();

    private protected ClientCodec()
    {
    }

    /// <summary>The codec of a client speaking <paramref name="protocol"/>.</summary>
    public static ClientCodec For(ClientProtocol protocol) => protocol.Enveloped ? RelayV1 : Raw;

    /// <summary>
    /// Reads a complete client message: what it is (a patch, or a <c>relay.v1</c> presence, broadcast or ping frame), its
    /// payload and the id the client gave a patch (0: none, the connection numbers it); false with the close to send
    /// when the message breaks the protocol.
    /// </summary>
    public abstract bool TryDecode(ReadOnlyMemory<byte> message, out ClientMessage decoded, out CloseFrame? error);

    /// <summary>
    /// The bytes <paramref name="frame"/> goes out as to a client of <paramref name="document"/>; dispose the result
    /// once they are written.
    /// </summary>
    public abstract EncodedFrame Encode(OutboundFrame frame, DocumentName document);

    private sealed class RawCodec : ClientCodec
    {
        public override bool TryDecode(ReadOnlyMemory<byte> message, out ClientMessage decoded, out CloseFrame? error)
        {
            (decoded, error) = (new ClientMessage(ClientMessageKind.Patch, message, 0), null);
            return true;
        }

        // The connection sends a raw client patches only: its own come back as nothing, and it gets no hello.
        public override EncodedFrame Encode(OutboundFrame frame, DocumentName document) => frame switch
        {
            PatchFrame patch => new EncodedFrame(patch.Payload, patch.IsText, null),
            _ => throw new InvalidOperationException($"a client of raw frames cannot be sent {frame}"),
        };
    }

    private sealed class RelayV1Codec : ClientCodec
    {
        public override bool TryDecode(ReadOnlyMemory<byte> message, out ClientMessage decoded, out CloseFrame? error)
        {
            if (Sockets.RelayV1.TryRead(message, out var kind, out var id, out var payload, out var reason))
            {
                (decoded, error) = (new ClientMessage(kind, payload, id), null);
                return true;
            }

            (decoded, error) = (default, CloseCodes.Unreadable(Sockets.RelayV1.SubProtocol, reason));
            return false;
        }

        public override EncodedFrame Encode(OutboundFrame frame, DocumentName document)
        {
            var (buffer, length, isText) = Sockets.RelayV1.Encode(frame, document);
            return new EncodedFrame(buffer.AsMemory(0, length), isText, buffer);
        }
    }
}

/// <summary>What a client message is: a patch, or one of <c>relay.v1</c>'s presence frames (docs/protocol.md).</summary>
public enum ClientMessageKind
{
    /// <summary>A patch, to journal and relay.</summary>
    Patch,

    /// <summary><c>{"type":"presence"}</c>: the client's presence state (an empty payload clears it).</summary>
    Presence,

    /// <summary><c>{"type":"broadcast"}</c>: a payload for the document's other clients, never journaled.</summary>
    Broadcast,

    /// <summary><c>{"type":"ping"}</c>: a sign of life.</summary>
    Ping,
}

/// <summary>A decoded client message: its <paramref name="Kind"/>, its <paramref name="Payload"/>, and a patch's <paramref name="Id"/> (0: none).</summary>
public readonly record struct ClientMessage(ClientMessageKind Kind, ReadOnlyMemory<byte> Payload, long Id);

/// <summary>A frame as it goes out: its bytes and type, and the pooled buffer they are in, if any, returned on dispose.</summary>
public readonly struct EncodedFrame(ReadOnlyMemory<byte> bytes, bool isText, byte[]? rented) : IDisposable
{
    /// <summary>The bytes to send as one message.</summary>
    public ReadOnlyMemory<byte> Bytes { get; } = bytes;

    /// <summary>Whether they go out as a text message, else binary.</summary>
    public bool IsText { get; } = isText;

    /// <inheritdoc />
    public void Dispose()
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
