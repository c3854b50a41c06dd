#nullable enable
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.Journal;

/// <summary>Limits and timings of <see cref="HistoryReader"/>.</summary>
/// <param name="MaxBufferedBytes">Bytes of history one read holds at a time (plus at most one patch).</param>
/// <param name="MaxMessageBytes">The largest patch a client may send: what the first window of a read assumes.</param>
/// <param name="MaxRowsPerRead">The journal query's page: no window asks for more rows.</param>
/// <param name="SkipGapAfter">How long a gap with a later row must last before it is skipped as a hole.</param>
internal sealed record ReplaySettings(long MaxBufferedBytes, int MaxMessageBytes, int MaxRowsPerRead, TimeSpan SkipGapAfter);

/// <summary>
/// One window of a history read: <paramref name="Patches"/> in order, and <paramref name="ReadThrough"/>, the last
/// sequence number the window accounts for (delivered, or in a hole it skipped). Below the first sequence number
/// asked for when the read made no progress.
/// </summary>
internal sealed record HistoryWindow(IReadOnlyList<PatchAppended> Patches, long ReadThrough);

/// <summary>
/// Reads a document's history for the node's readers (a joining connection's catch-up, a hub's gap filling) in
/// windows of bounded bytes (<see cref="ReplayWindow"/>), each its own journal query, so a read holds about
/// <see cref="ReplaySettings.MaxBufferedBytes"/> whatever the patch sizes. It hands out only runs without gaps,
/// except across a hole the journal shows is permanent (<see cref="JournalHoles"/>): it logs each hole once as an
/// error and counts it in <c>relay_journal_holes_total</c>.
/// </summary>
internal sealed class HistoryReader
{
    private readonly IPatchJournal _journal;
    private readonly ILoggingAdapter _log;

    /// <summary>Reads <paramref name="journal"/>, registering holes in <paramref name="holes"/>.</summary>
    public HistoryReader(IPatchJournal journal, JournalHoles holes, ReplaySettings settings, ILoggingAdapter log)
    {
        _journal = journal;
        Holes = holes;
        Settings = settings;
        _log = log;
    }

    /// <summary>The node's register of holes.</summary>
    public JournalHoles Holes { get; }

    /// <summary>The limits and timings.</summary>
    public ReplaySettings Settings { get; }

    /// <summary>A new window for one reader: it learns the sizes of the patches the reader meets.</summary>
    public ReplayWindow NewWindow() => new(Settings.MaxBufferedBytes, Settings.MaxMessageBytes, Settings.MaxRowsPerRead);

    /// <summary>
    /// Reads the next window of <paramref name="from"/> to <paramref name="to"/> of <paramref name="document"/>.
    /// <paramref name="seeTo"/> is the latest sequence number the reader knows was journaled (at least
    /// <paramref name="to"/>): when the range ends inside a gap, the reader looks up to there for a later row,
    /// which tells a hole from a write not yet visible.
    /// </summary>
    public async Task<HistoryWindow> ReadWindowAsync(
        DocumentName document,
        ReplayWindow window,
        long from,
        long to,
        long seeTo,
        IMaterializer materializer)
    {
        var end = Math.Min(to, from + window.Rows - 1);
        // Into a plain list: Sink.Seq builds an immutable list node per row, a tenth of a replay's CPU (BENCHMARKS.md).
        var rows = new List<PatchAppended>((int)Math.Min(end - from + 1, 1024));
        await _journal.Read(document, from, end).RunForeach(rows.Add, materializer).ConfigureAwait(false);
        var patches = new List<PatchAppended>(rows.Count);
        var expected = from;
        foreach (var row in rows)
        {
            window.Observe(row);
            if (row.Sequence < expected)
            {
                continue;
            }

            if (row.Sequence > expected && !Skips(document, expected, row.Sequence - 1))
            {
                return new HistoryWindow(patches, expected - 1);
            }

            patches.Add(row);
            expected = row.Sequence + 1;
        }

        if (expected > end || patches.Count > 0)
        {
            // Done, or a gap at the window's end: the next window starts at it, and looks past it if need be.
            return new HistoryWindow(patches, expected - 1);
        }

        var later = await FirstAfterAsync(document, window, expected, Math.Max(seeTo, to), materializer).ConfigureAwait(false);
        return later is { } next && Skips(document, expected, next - 1)
            ? new HistoryWindow(patches, next - 1)
            : new HistoryWindow(patches, expected - 1);
    }

    /// <summary>
    /// Reads <paramref name="from"/> to <paramref name="to"/> window by window, awaiting <paramref name="deliver"/> for
    /// each patch (which back-pressures the read), until the range is done or a window makes no progress.
    /// Returns the last sequence number read through.
    /// </summary>
    public async Task<long> ReadAsync(
        DocumentName document,
        long from,
        long to,
        long seeTo,
        Func<PatchAppended, ValueTask> deliver,
        IMaterializer materializer)
    {
        var window = NewWindow();
        var next = from;
        while (next <= to)
        {
            var read = await ReadWindowAsync(document, window, next, to, seeTo, materializer).ConfigureAwait(false);
            foreach (var patch in read.Patches)
            {
                await deliver(patch).ConfigureAwait(false);
            }

            if (read.ReadThrough < next)
            {
                break;
            }

            next = read.ReadThrough + 1;
        }

        return next - 1;
    }

    // The first sequence number the journal has from `from` to `seeTo`, looked for a window at a time so that the
    // rows after a gap are not all read at once; null when there is none (yet).
    private async Task<long?> FirstAfterAsync(DocumentName document, ReplayWindow window, long from, long seeTo, IMaterializer materializer)
    {
        for (var start = from; start <= seeTo;)
        {
            var end = Math.Min(seeTo, start + window.Rows - 1);
            var first = await _journal.Read(document, start, end).Take(1)
                .RunWith(Sink.FirstOrDefault<PatchAppended>(), materializer).ConfigureAwait(false);
            if (first is not null)
            {
                return first.Sequence;
            }

            start = end + 1;
        }

        return null;
    }

    private bool Skips(DocumentName document, long from, long to)
    {
        switch (Holes.Observe(document, from, to, Environment.TickCount64, Settings.SkipGapAfter))
        {
            case GapVerdict.Skip:
                return true;
            case GapVerdict.SkipNewHole:
                RelayMetrics.JournalHoles.Add(1);
                _log.Error(
                    "The journal of {Document} lacks sequence numbers {From} to {To} while later ones are there, for {SkipGapAfter}: delivery skips them",
                    document, from, to, Settings.SkipGapAfter);
                return true;
            default:
                return false;
        }
    }
}
