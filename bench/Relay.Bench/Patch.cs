using System.Diagnostics;

namespace Relay.Bench;

/// <summary>
/// The bench's patch: a fixed-size ASCII text frame that carries the run, the sender, a per-sender sequence
/// number and the send timestamp, so a receiver can check order and measure latency without a parser.
/// Layout: <c>runId(8 hex) '-' sender(4 hex) '-' seq(16 hex) '-' timestamp(16 hex) ' ' filler</c>.
/// </summary>
public static class Patch
{
    /// <summary>The smallest size that holds the header.</summary>
    public const int MinSize = 48;

    private const int RunAt = 0;
    private const int SenderAt = 9;
    private const int SeqAt = 14;
    private const int StampAt = 31;
    private const int FillerAt = 47;

    /// <summary>Writes a patch into <paramref name="buffer"/> (its whole length is the patch).</summary>
    public static void Write(Span<byte> buffer, uint runId, int sender, long seq, long timestamp)
    {
        WriteHex(buffer.Slice(RunAt, 8), runId);
        buffer[RunAt + 8] = (byte)'-';
        WriteHex(buffer.Slice(SenderAt, 4), (ulong)sender);
        buffer[SenderAt + 4] = (byte)'-';
        WriteHex(buffer.Slice(SeqAt, 16), (ulong)seq);
        buffer[SeqAt + 16] = (byte)'-';
        WriteHex(buffer.Slice(StampAt, 16), (ulong)timestamp);
        buffer[StampAt + 16] = (byte)' ';
    }

    /// <summary>A buffer of <paramref name="size"/> bytes with the filler in place; <see cref="Write"/> fills in the header.</summary>
    public static byte[] NewBuffer(int size)
    {
        if (size < MinSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"patches are at least {MinSize} bytes");
        }

        var buffer = new byte[size];
        for (var i = FillerAt; i < size; i++)
        {
            buffer[i] = (byte)('a' + (i % 26));
        }

        return buffer;
    }

    /// <summary>Reads a patch of run <paramref name="runId"/>; false for anything else (another run's history, a stranger's frame).</summary>
    public static bool TryRead(ReadOnlySpan<byte> message, uint runId, out int sender, out long seq, out long timestamp)
    {
        sender = 0;
        seq = 0;
        timestamp = 0;
        if (message.Length < MinSize ||
            !TryReadHex(message.Slice(RunAt, 8), out var run) || run != runId ||
            !TryReadHex(message.Slice(SenderAt, 4), out var s) ||
            !TryReadHex(message.Slice(SeqAt, 16), out var n) ||
            !TryReadHex(message.Slice(StampAt, 16), out var t))
        {
            return false;
        }

        sender = (int)s;
        seq = (long)n;
        timestamp = (long)t;
        return true;
    }

    /// <summary>Microseconds from <paramref name="timestamp"/> (a <see cref="Stopwatch"/> timestamp) to now.</summary>
    public static long MicrosecondsSince(long timestamp) =>
        (Stopwatch.GetTimestamp() - timestamp) * 1_000_000 / Stopwatch.Frequency;

    private static void WriteHex(Span<byte> target, ulong value)
    {
        for (var i = target.Length - 1; i >= 0; i--)
        {
            var digit = (int)(value & 0xF);
            target[i] = (byte)(digit < 10 ? '0' + digit : 'a' + digit - 10);
            value >>= 4;
        }
    }

    private static bool TryReadHex(ReadOnlySpan<byte> source, out ulong value)
    {
        value = 0;
        foreach (var c in source)
        {
            int digit = c switch
            {
                >= (byte)'0' and <= (byte)'9' => c - '0',
                >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | (uint)digit;
        }

        return true;
    }
}
