#nullable enable
using Relay.Actors.Messages;

namespace Relay.Actors.Journal;

/// <summary>
/// How many rows the next read of a history asks the journal for. The journal's query reads all the rows of a
/// range into memory before it hands out the first, and its pages are bounded by rows, not bytes: so the rows
/// asked for at once times the largest patch seen so far stays within a byte budget. The first read, before any
/// size is known, assumes patches of the largest size a client may send.
/// </summary>
internal sealed class ReplayWindow
{
    // What a journaled patch costs besides its payload (sequence, origin, frame number, the row's other columns).
    private const int RowOverhead = 128;

    private readonly long _maxBufferedBytes;
    private readonly int _maxRows;
    private long _largest;
    private bool _observed;

    /// <summary>
    /// A window of at most <paramref name="maxBufferedBytes"/> (plus at most one patch), never more than
    /// <paramref name="maxRows"/> rows (the journal's page), assuming patches of up to <paramref name="maxMessageBytes"/>
    /// until it has seen some.
    /// </summary>
    public ReplayWindow(long maxBufferedBytes, int maxMessageBytes, int maxRows)
    {
        _maxBufferedBytes = maxBufferedBytes;
        _maxRows = Math.Max(1, maxRows);
        _largest = (long)maxMessageBytes + RowOverhead;
    }

    /// <summary>The rows to ask for next.</summary>
    public int Rows => (int)Math.Clamp(_maxBufferedBytes / _largest, 1, _maxRows);

    /// <summary>A patch the journal returned: its size sets the next windows.</summary>
    /// <remarks>The first patch replaces the assumed largest size; later ones only raise it.</remarks>
    public void Observe(PatchAppended patch)
    {
        var size = (long)patch.Payload.Length + RowOverhead;
        _largest = _observed ? Math.Max(_largest, size) : size;
        _observed = true;
    }
}
