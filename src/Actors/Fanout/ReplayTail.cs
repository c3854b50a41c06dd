#nullable enable
using Relay.Actors.Connections;
using Relay.Actors.Hosting;
using Relay.Actors.Messages;

namespace Relay.Actors.Fanout;

/// <summary>
/// The bytes every hub of one node may keep in its <see cref="ReplayTail"/> together (<c>Relay:Replay:TailBytesPerNode</c>),
/// and how many they keep now; one per node, shared by its hubs, thread-safe.
/// </summary>
internal sealed class ReplayTailBudget(long maxBytes)
{
    private long _used;

    /// <summary>The node's limit.</summary>
    public long MaxBytes => maxBytes;

    /// <summary>Bytes the node's tails keep now.</summary>
    public long UsedBytes => Interlocked.Read(ref _used);

    /// <summary>Whether the node's tails keep more than the limit.</summary>
    public bool Over => UsedBytes > maxBytes;

    /// <summary>A tail keeps <paramref name="bytes"/> more (or fewer, when negative).</summary>
    public void Add(long bytes) => Interlocked.Add(ref _used, bytes);
}

/// <summary>How much one hub's tail keeps: per document, and the node's budget shared by every hub.</summary>
internal sealed record TailLimits(long MaxBytesPerDocument, ReplayTailBudget Node)
{
    /// <summary>The limits the node's options give, with a new budget for the node; null when either setting is 0 (off).</summary>
    public static TailLimits? From(RelayOptions options) =>
        options.Replay.TailBytesPerDocument > 0 && options.Replay.TailBytesPerNode > 0
            ? new TailLimits(options.Replay.TailBytesPerDocument, new ReplayTailBudget(options.Replay.TailBytesPerNode))
            : null;
}

/// <summary>One patch of a tail with the frame the hub made of it once for every client of the node.</summary>
internal readonly record struct TailEntry(PatchAppended Patch, PatchFrame Frame);

/// <summary>
/// The most recent patches a document's hub handed on, in memory, so that a joiner whose history lies in it reads
/// no journal. It covers <see cref="First"/> to <see cref="Through"/> without a gap: every patch the journal has in that
/// range is in it (sequence numbers need not be contiguous: the hub skips a hole of the journal, and so does the tail).
/// Bounded by bytes per document and by the node's <see cref="ReplayTailBudget"/>: past either it drops its oldest.
/// Entries are written once into chunks that are never reused, so a <see cref="ReplayTailView"/> given to a joiner
/// stays valid, unchanged, while the tail goes on.
/// </summary>
internal sealed class ReplayTail(TailLimits limits)
{
    /// <summary>
    /// Managed bytes an entry costs beyond its payload, measured on .NET 10 (a 128-byte patch: 160 with the origin's
    /// string shared by its connection's patches, 256 with one string per patch, as a patch from another node has).
    /// </summary>
    public const int EntryOverheadBytes = 256;

    // Small: a dropped patch is freed only with the last of its chunk (views share the chunks), so the tail holds at
    // most this many patches beyond its bounds.
    private const int ChunkSize = 32;
    private readonly List<TailEntry[]> _chunks = new();
    private int _start;
    private int _written;

    // The journal lacks everything up to here (trimmed): nothing at or below it is kept, even handed on later.
    private long _floor;

    /// <summary>Whether the tail follows the hub (from <see cref="StartAt"/> until <see cref="Clear"/>).</summary>
    public bool Started { get; private set; }

    /// <summary>The first sequence number the tail covers; <see cref="Through"/> + 1 when it holds nothing.</summary>
    public long First { get; private set; }

    /// <summary>The last sequence number the tail covers: the hub's head.</summary>
    public long Through { get; private set; }

    /// <summary>Patches held.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes held, each entry its payload plus <see cref="EntryOverheadBytes"/>.</summary>
    public long Bytes { get; private set; }

    /// <summary>The hub's head is <paramref name="head"/>: the tail covers what it hands on after it.</summary>
    public void StartAt(long head)
    {
        Clear();
        _floor = 0;
        Started = true;
        First = head + 1;
        Through = head;
    }

    /// <summary>The hub handed on <paramref name="patch"/>, the next after <see cref="Through"/> (or past a hole).</summary>
    public void Add(PatchAppended patch, PatchFrame frame)
    {
        if (!Started || patch.Sequence <= Through)
        {
            return;
        }

        if (_chunks.Count == 0 || _written == ChunkSize)
        {
            _chunks.Add(new TailEntry[ChunkSize]);
            _written = 0;
        }

        _chunks[^1][_written++] = new TailEntry(patch, frame);
        Count++;
        Through = patch.Sequence;
        Take(CostOf(patch));
        while (Count > 0 && (Bytes > limits.MaxBytesPerDocument || limits.Node.Over))
        {
            DropFirst();
        }

        if (First <= _floor)
        {
            DropThrough(_floor);
        }
    }

    /// <summary>The hub skipped a hole of the journal through <paramref name="through"/>: covered, with nothing in it.</summary>
    public void CoverThrough(long through)
    {
        if (Started && through > Through)
        {
            if (Count == 0)
            {
                First = through + 1;
            }

            Through = through;
        }
    }

    /// <summary>The journal lacks everything up to <paramref name="sequence"/> now (trimmed): the tail keeps nothing of it.</summary>
    public void DropThrough(long sequence)
    {
        _floor = Math.Max(_floor, sequence);
        while (Count > 0 && Entry(0).Patch.Sequence <= sequence)
        {
            DropFirst();
        }

        if (Started && First <= sequence)
        {
            First = Math.Min(sequence, Through) + 1;
        }
    }

    /// <summary>Forgets everything (the history was replaced, or the hub stops) and gives its bytes back to the node.</summary>
    public void Clear()
    {
        Take(-Bytes);
        _chunks.Clear();
        _start = 0;
        _written = 0;
        Count = 0;
        Started = false;
        _floor = 0;
    }

    /// <summary>What the tail holds now, unchanged by what it does later; null when it holds nothing.</summary>
    public ReplayTailView? View() =>
        Count == 0 ? null : new ReplayTailView(_chunks.ToArray(), _start, Count, First, Through);

    private static long CostOf(PatchAppended patch) => patch.Payload.Length + EntryOverheadBytes;

    private TailEntry Entry(int index)
    {
        var at = _start + index;
        return _chunks[at / ChunkSize][at % ChunkSize];
    }

    private void DropFirst()
    {
        var first = Entry(0);
        Take(-CostOf(first.Patch));
        Count--;
        First = Count == 0 ? Through + 1 : first.Patch.Sequence + 1;
        if (++_start == ChunkSize)
        {
            // The chunk is left to whoever still views it; the tail never writes it again.
            _chunks.RemoveAt(0);
            _start = 0;
        }
    }

    private void Take(long bytes)
    {
        Bytes += bytes;
        limits.Node.Add(bytes);
    }

    /// <summary>The size of a chunk, for the view.</summary>
    internal static int ChunkLength => ChunkSize;
}

/// <summary>
/// An immutable view of a <see cref="ReplayTail"/>: the patches it held when made, covering <see cref="First"/> to
/// <see cref="Through"/> without a gap. Safe to read on another thread than the hub's: the entries it shows are never written again.
/// </summary>
internal sealed class ReplayTailView
{
    private readonly TailEntry[][] _chunks;
    private readonly int _start;

    /// <summary>Creates the view of <paramref name="count"/> entries from <paramref name="start"/> in <paramref name="chunks"/>.</summary>
    public ReplayTailView(TailEntry[][] chunks, int start, int count, long first, long through)
    {
        _chunks = chunks;
        _start = start;
        Count = count;
        First = first;
        Through = through;
    }

    /// <summary>The first sequence number covered.</summary>
    public long First { get; }

    /// <summary>The last sequence number covered.</summary>
    public long Through { get; }

    /// <summary>Patches in the view.</summary>
    public int Count { get; }

    /// <summary>The entry at <paramref name="index"/>, in order.</summary>
    public TailEntry this[int index]
    {
        get
        {
            var at = _start + index;
            return _chunks[at / ReplayTail.ChunkLength][at % ReplayTail.ChunkLength];
        }
    }

    /// <summary>The index of the first entry at or after <paramref name="sequence"/>; <see cref="Count"/> when none is.</summary>
    public int IndexOf(long sequence)
    {
        int low = 0, high = Count;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (this[middle].Patch.Sequence < sequence)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}
