using System.Text.Json;

namespace Relay.Bench;

/// <summary>
/// A <c>relay.v1</c> receiver's frames (docs/protocol.md, "Frames"): each is a header, one JSON object, then
/// optionally a newline and the payload. Checks that the first frame is a hello (epoch, head, resumed) and that
/// the patch frames after it carry every sequence number once, in order, from 1 (a full join of a history without
/// snapshots, as every bench server has), and hands each patch's payload, byte for byte, to the inner sink.
/// Frames of other types (an ack, a type a later version adds) are counted and skipped, as the protocol says
/// readers do. Called on the client's one receive loop; the counts may be read from any thread.
/// </summary>
public sealed class RelayV1Frames : IMessageSink
{
    private readonly IMessageSink _patches;
    private long _nextSeq = 1;
    private long _helloHead = -1;
    private long _seqGaps;
    private long _badFrames;
    private long _otherFrames;

    /// <summary>Reads frames whose patches go to <paramref name="patches"/>.</summary>
    public RelayV1Frames(IMessageSink patches) => _patches = patches;

    /// <summary>Whether a hello came first.</summary>
    public bool HelloSeen => Volatile.Read(ref _helloHead) >= 0;

    /// <summary>Patch frames whose <c>seq</c> was not one more than the previous one's (a gap, a double or a step back).</summary>
    public long SeqGaps => Volatile.Read(ref _seqGaps);

    /// <summary>Frames that broke the protocol: a first frame that was no hello, a second hello, a header that is not JSON, a patch without a <c>seq</c> or a payload.</summary>
    public long BadFrames => Volatile.Read(ref _badFrames);

    /// <summary>Well-formed frames of a type other than hello and patch, skipped.</summary>
    public long OtherFrames => Volatile.Read(ref _otherFrames);

    /// <inheritdoc />
    public void OnMessage(ReadOnlySpan<byte> message)
    {
        var newline = message.IndexOf((byte)'\n');
        var header = newline < 0 ? message : message[..newline];
        if (!TryReadHeader(header, out var type, out var seq, out var head, out var hasEpoch, out var hasResumed))
        {
            Interlocked.Increment(ref _badFrames);
            return;
        }

        if (!HelloSeen)
        {
            if (type == FrameType.Hello && head >= 0 && hasEpoch && hasResumed)
            {
                Volatile.Write(ref _helloHead, head);
            }
            else
            {
                Interlocked.Increment(ref _badFrames);
            }

            return;
        }

        switch (type)
        {
            case FrameType.Patch when seq > 0 && newline >= 0:
                if (seq != _nextSeq)
                {
                    Interlocked.Increment(ref _seqGaps);
                }

                _nextSeq = seq + 1;
                _patches.OnMessage(message[(newline + 1)..]);
                break;
            case FrameType.Patch or FrameType.Hello:
                Interlocked.Increment(ref _badFrames);
                break;
            default:
                Interlocked.Increment(ref _otherFrames);
                break;
        }
    }

    private enum FrameType
    {
        Other,
        Hello,
        Patch,
    }

    /// <summary>The header's <c>type</c>, <c>seq</c> and <c>head</c> (-1 where absent), and whether it names an epoch of 16 hex digits and <c>resumed</c>; false if it is not one JSON object with a string <c>type</c>.</summary>
    private static bool TryReadHeader(ReadOnlySpan<byte> header, out FrameType type, out long seq, out long head, out bool hasEpoch, out bool hasResumed)
    {
        type = FrameType.Other;
        seq = -1;
        head = -1;
        hasEpoch = false;
        hasResumed = false;
        var typed = false;
        try
        {
            var reader = new Utf8JsonReader(header);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    typed = true;
                    type = reader.ValueTextEquals("patch"u8) ? FrameType.Patch : reader.ValueTextEquals("hello"u8) ? FrameType.Hello : FrameType.Other;
                }
                else if (reader.ValueTextEquals("seq"u8) || reader.ValueTextEquals("head"u8))
                {
                    var isSeq = reader.ValueTextEquals("seq"u8);
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var number) || number < 0)
                    {
                        return false;
                    }

                    if (isSeq)
                    {
                        seq = number;
                    }
                    else
                    {
                        head = number;
                    }
                }
                else if (reader.ValueTextEquals("epoch"u8))
                {
                    reader.Read();
                    hasEpoch = reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length == 16 && IsHex(reader.ValueSpan);
                }
                else if (reader.ValueTextEquals("resumed"u8))
                {
                    reader.Read();
                    hasResumed = reader.TokenType is JsonTokenType.True or JsonTokenType.False;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return typed && reader.TokenType == JsonTokenType.EndObject && !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool IsHex(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit((char)c))
            {
                return false;
            }
        }

        return true;
    }
}
