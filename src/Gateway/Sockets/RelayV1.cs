using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Presence;

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
        if (!TryGetName(query, "client", ClientIdPattern(), "client must be 1 to 64 characters of A-Z a-z 0-9 _ -", out var client, out error) ||
            !TryGetName(query, "user", UserPattern(), "user must be 1 to 128 characters of A-Z a-z 0-9 _ - . @ :", out var user, out error))
        {
            return false;
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

        // The presence id: the client's name, or one of the connection's own ("_" and 16 hex digits, which no name can be).
        var presenceId = client ?? "_" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        protocol = new ClientProtocol(Enveloped: true, client, after, epoch) { PresenceId = presenceId, User = user ?? presenceId };
        error = string.Empty;
        return true;
    }

    /// <summary>An optional name in the query, once, matching <paramref name="pattern"/>; false with <paramref name="rule"/> as the reason.</summary>
    private static bool TryGetName(IQueryCollection query, string key, Regex pattern, string rule, out string? name, out string error)
    {
        name = null;
        error = string.Empty;
        if (!query.TryGetValue(key, out var values))
        {
            return true;
        }

        name = values.Count == 1 ? values[0] : null;
        if (name is null || !pattern.IsMatch(name))
        {
            error = rule;
            return false;
        }

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
    /// 2^53 - 1 in plain digits, named once; other members are ignored. False with a one-line reason (also for a
    /// frame of another <c>type</c>).
    /// </summary>
    public static bool TryReadPatch(ReadOnlyMemory<byte> message, out long id, out ReadOnlyMemory<byte> payload, out string error)
    {
        if (!TryRead(message, out var kind, out id, out payload, out error))
        {
            return false;
        }

        if (kind != ClientMessageKind.Patch)
        {
            error = "not a patch";
            return false;
        }

        return true;
    }

    /// <summary>
    /// Reads any client frame (docs/protocol.md): a header without <c>type</c> is a patch (<c>{"id":N}</c>, a newline,
    /// the payload); <c>presence</c> and <c>broadcast</c> are a header, a newline and a payload; <c>ping</c> is a
    /// header alone. False with a one-line reason.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> message, out ClientMessageKind kind, out long id, out ReadOnlyMemory<byte> payload, out string error)
    {
        kind = ClientMessageKind.Patch;
        id = 0;
        payload = default;
        var patchShape = $"a patch starts with a header of at most {MaxHeaderBytes} bytes and a newline";
        var newline = message.Span[..Math.Min(message.Length, MaxHeaderBytes + 1)].IndexOf((byte)'\n');
        if (newline < 0 && message.Length > MaxHeaderBytes)
        {
            error = patchShape;
            return false;
        }

        string? type = null;
        var header = newline < 0 ? message.Span : message.Span[..newline];
        if (!TryReadHeader(header, ref id, ref type, out error))
        {
            // A frame without a newline is read for its type only: as a patch it lacks its header line.
            error = newline < 0 ? patchShape : error;
            return false;
        }

        switch (type)
        {
            case null when newline < 0:
                error = patchShape;
                return false;
            case null when id == 0:
                error = "the header has no id";
                return false;
            case null:
                break;
            case "ping":
                kind = ClientMessageKind.Ping;
                error = string.Empty;
                return true;
            case "presence" or "broadcast" when newline < 0:
                error = $"a {type} frame is a header, a newline and a payload";
                return false;
            case "presence":
                kind = ClientMessageKind.Presence;
                break;
            case "broadcast":
                kind = ClientMessageKind.Broadcast;
                break;
            default:
                error = "unknown type " + (type.Length > 32 ? type[..32] + "…" : type);
                return false;
        }

        payload = message[(newline + 1)..];
        error = string.Empty;
        return true;
    }

    private static bool TryReadHeader(ReadOnlySpan<byte> header, ref long id, ref string? type, out string error)
    {
        try
        {
            var reader = new Utf8JsonReader(header);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the header is not a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isId = reader.ValueTextEquals("id"u8);
                var isType = reader.ValueTextEquals("type"u8);
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
                else if (isType)
                {
                    if (type is not null || reader.TokenType != JsonTokenType.String)
                    {
                        error = "type must be one string";
                        return false;
                    }

                    type = reader.GetString();
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

        error = string.Empty;
        return true;
    }

    /// <summary>
    /// Checks a presence state (docs/protocol.md, "Limits"): a JSON object in a text frame of at most
    /// <paramref name="maxBytes"/> bytes. False with whether it was too big, else a one-line reason.
    /// </summary>
    public static bool TryCheckPresenceState(ReadOnlyMemory<byte> state, bool isText, int maxBytes, out bool tooBig, out string error)
    {
        tooBig = state.Length > maxBytes;
        if (tooBig)
        {
            error = $"presence state over {maxBytes} bytes";
            return false;
        }

        if (!isText)
        {
            error = "a presence state goes in a text frame";
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(state.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "not a JSON object";
                return false;
            }

            // The reader refuses anything after the object (it reads one JSON value).
            reader.Skip();
            reader.Read();
        }
        catch (JsonException)
        {
            error = "not valid JSON";
            return false;
        }

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

                    if (hello.Client is { } client)
                    {
                        json.WriteString("client", client);
                    }

                    if (hello.Presence is { } limits)
                    {
                        json.WriteStartObject("presence");
                        json.WriteNumber("timeoutSeconds", limits.TimeoutSeconds);
                        json.WriteNumber("maxStateBytes", limits.MaxStateBytes);
                        json.WriteNumber("maxUpdatesPerSecond", limits.MaxUpdatesPerSecond);
                        json.WriteEndObject();
                    }

                    break;
                case PresentFrame present:
                    json.WriteString("type", "present");
                    json.WriteStartArray("clients");
                    foreach (var entry in present.Clients)
                    {
                        json.WriteStartObject();
                        WriteEntry(json, entry, withState: true);
                        json.WriteEndObject();
                    }

                    json.WriteEndArray();
                    break;
                case PresenceFrame change:
                    json.WriteString("type", "presence");
                    json.WriteString("event", change.Change switch
                    {
                        PresenceChange.Joined => "joined",
                        PresenceChange.Updated => "updated",
                        _ => "left",
                    });
                    WriteEntry(json, change.Entry, withState: change.Change != PresenceChange.Left);
                    break;
                case BroadcastFrame broadcast:
                    json.WriteString("type", "broadcast");
                    json.WriteString("client", broadcast.Client);
                    json.WriteString("user", broadcast.User);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(frame), frame, "a frame relay.v1 has no encoding for");
            }

            json.WriteEndObject();
        }

        var isText = true;
        if (frame is BroadcastFrame { Payload: var payload, IsText: var payloadIsText })
        {
            // The header line, then the sender's payload byte for byte, in a frame of the sender's type.
            output.Write("\n"u8);
            output.Write(payload.Span);
            isText = payloadIsText;
        }

        var encoded = ArrayPool<byte>.Shared.Rent(output.WrittenCount);
        output.WrittenSpan.CopyTo(encoded);
        return (encoded, output.WrittenCount, isText);
    }

    private static void WriteEntry(Utf8JsonWriter json, PresenceEntry entry, bool withState)
    {
        json.WriteString("client", entry.Client);
        json.WriteString("user", entry.User);
        if (withState)
        {
            // Checked as one JSON object when the client sent it (TryCheckPresenceState).
            json.WritePropertyName("state");
            json.WriteRawValue(entry.State.IsEmpty ? "{}"u8 : entry.State.Span, skipInputValidation: true);
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    internal static partial Regex ClientIdPattern();

    [GeneratedRegex("^[A-Za-z0-9_.@:-]{1,128}$")]
    private static partial Regex UserPattern();
}
