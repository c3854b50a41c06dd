using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Relay.Actors.Connections;
using Relay.Actors.Documents;

namespace Relay.Gateway.Sockets;

/// <summary>
/// The <c>relay.v1</c> WebSocket subprotocol (docs/protocol.md): the upgrade's query, and the frames. Every frame
/// is a header, one JSON object on one line, optionally followed by a newline and a payload, byte for byte; the
/// frame's type (text or binary) is the payload's.
/// </summary>
public static partial class RelayV1
{
    /// <summary>The subprotocol's name in <c>Sec-WebSocket-Protocol</c>.</summary>
    public const string SubProtocol = "relay.v1";

    /// <summary>
    /// The longest header a client's patch may carry, newline excluded (docs/protocol.md): room for members a later
    /// version or a client's own tooling adds, which readers ignore; the message size limit counts it too.
    /// </summary>
    public const int MaxHeaderBytes = 4096;

    /// <summary>The highest patch id a client may give: 2^53 - 1, the largest whole number JSON readers keep exactly.</summary>
    public const long MaxPatchId = (1L << 53) - 1;

    private static readonly byte[] PatchHeaderStart = """{"type":"patch","seq":"""u8.ToArray();

    /// <summary>Whether the upgrade request offers <c>relay.v1</c>.</summary>
    public static bool IsRequested(HttpContext context) =>
        context.WebSockets.WebSocketRequestedProtocols.Contains(SubProtocol, StringComparer.Ordinal);

    /// <summary>
    /// The client's protocol from an upgrade that offered <c>relay.v1</c>: <c>?client=</c> (1-64 of
    /// <c>A-Z a-z 0-9 _ -</c>), and <c>?after=</c> with <c>?epoch=</c> (both or neither). False with a one-line reason.
    /// </summary>
    public static bool TryParseRequest(IQueryCollection query, out ClientProtocol protocol, out string error)
    {
        protocol = ClientProtocol.Raw;
        string? client = null;
        if (query.TryGetValue("client", out var clientValues))
        {
            client = clientValues.Count == 1 ? clientValues[0] : null;
            if (client is null || !ClientIdPattern().IsMatch(client))
            {
                error = "client must be 1 to 64 characters of A-Z a-z 0-9 _ -";
                return false;
            }
        }

        var hasAfter = query.TryGetValue("after", out var afterValues);
        var hasEpoch = query.TryGetValue("epoch", out var epochValues);
        if (hasAfter != hasEpoch)
        {
            error = "after and epoch go together";
            return false;
        }

        long? after = null;
        long? epoch = null;
        if (hasAfter)
        {
            if (afterValues.Count != 1 || !long.TryParse(afterValues[0], NumberStyles.None, CultureInfo.InvariantCulture, out var a))
            {
                error = "after must be a sequence number (0 or more)";
                return false;
            }

            if (epochValues.Count != 1 || !TryParseEpoch(epochValues[0], out var parsed))
            {
                error = EpochError;
                return false;
            }

            (after, epoch) = (a, parsed);
        }

        protocol = new ClientProtocol(Enveloped: true, client, after, epoch);
        error = string.Empty;
        return true;
    }

    /// <summary>What a malformed epoch is told.</summary>
    internal const string EpochError = "epoch must be the 16 hex digits a hello named";

    /// <summary>Reads an epoch as a hello names it: 16 hex digits, either case.</summary>
    internal static bool TryParseEpoch(string? value, out long epoch)
    {
        epoch = 0;
        if (value is not { Length: 16 } || !ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var parsed))
        {
            return false;
        }

        epoch = unchecked((long)parsed);
        return true;
    }

    /// <summary>An epoch as the hello names it: 16 lowercase hex digits.</summary>
    public static string FormatEpoch(long epoch) => unchecked((ulong)epoch).ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads a client's patch frame: <c>{"id":N}</c>, a newline, the payload. N is a whole number from 1 to
    /// 2^53 - 1 in plain digits, named once; other members are ignored. False with a one-line reason.
    /// </summary>
    public static bool TryReadPatch(ReadOnlyMemory<byte> message, out long id, out ReadOnlyMemory<byte> payload, out string error)
    {
        id = 0;
        payload = default;
        var newline = message.Span[..Math.Min(message.Length, MaxHeaderBytes + 1)].IndexOf((byte)'\n');
        if (newline < 0)
        {
            error = $"a patch starts with a header of at most {MaxHeaderBytes} bytes and a newline";
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(message.Span[..newline]);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the header is not a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                reader.Read();
                if (isId)
                {
                    if (id != 0)
                    {
                        // JSON leaves a repeated name to the reader; a patch's id must not depend on which one wins.
                        error = "the header has more than one id";
                        return false;
                    }

                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out id) || id < 1 || id > MaxPatchId)
                    {
                        error = "id must be a whole number from 1 to 2^53 - 1";
                        return false;
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                error = "the header is not one JSON object";
                return false;
            }
        }
        catch (JsonException)
        {
            error = "the header is not valid JSON";
            return false;
        }

        if (id == 0)
        {
            error = "the header has no id";
            return false;
        }

        payload = message[(newline + 1)..];
        error = string.Empty;
        return true;
    }

    /// <summary>
    /// Encodes <paramref name="frame"/> for a <c>relay.v1</c> client of <paramref name="document"/> into a buffer
    /// rented from <see cref="ArrayPool{T}.Shared"/>; the caller returns it. Returns the bytes used and whether
    /// the frame is text.
    /// </summary>
    public static (byte[] Buffer, int Length, bool IsText) Encode(OutboundFrame frame, DocumentName document)
    {
        if (frame is PatchFrame patch)
        {
            // {"type":"patch","seq":N}\n and the payload as it was sent.
            var buffer = ArrayPool<byte>.Shared.Rent(PatchHeaderStart.Length + 22 + patch.Payload.Length);
            PatchHeaderStart.CopyTo(buffer, 0);
            var length = PatchHeaderStart.Length;
            Utf8Formatter.TryFormat(patch.Sequence, buffer.AsSpan(length), out var digits);
            length += digits;
            buffer[length++] = (byte)'}';
            buffer[length++] = (byte)'\n';
            patch.Payload.Span.CopyTo(buffer.AsSpan(length));
            return (buffer, length + patch.Payload.Length, patch.IsText);
        }

        var output = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            switch (frame)
            {
                case AckFrame ack:
                    json.WriteString("type", "ack");
                    json.WriteNumber("id", ack.Id);
                    json.WriteNumber("seq", ack.Sequence);
                    break;
                case HelloFrame hello:
                    json.WriteString("type", "hello");
                    json.WriteString("document", document.Value);
                    json.WriteString("epoch", FormatEpoch(hello.Epoch));
                    json.WriteNumber("head", hello.Head);
                    json.WriteBoolean("resumed", hello.Resumed);
                    if (hello.LastId is { } lastId)
                    {
                        json.WriteNumber("lastId", lastId);
                    }

                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(frame), frame, "a frame relay.v1 has no encoding for");
            }

            json.WriteEndObject();
        }

        var encoded = ArrayPool<byte>.Shared.Rent(output.WrittenCount);
        output.WrittenSpan.CopyTo(encoded);
        return (encoded, output.WrittenCount, true);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    internal static partial Regex ClientIdPattern();
}
