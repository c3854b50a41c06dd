#nullable enable
using Relay.Actors.Documents;

namespace Relay.Actors.Journal;

/// <summary>Sequence numbers <paramref name="From"/> to <paramref name="To"/> of <paramref name="Document"/> that the journal lacks for good.</summary>
internal sealed record JournalHole(DocumentName Document, long From, long To);

/// <summary>What a reader does about a gap in the journal.</summary>
internal enum GapVerdict
{
    /// <summary>The rows may still be committed: read the same place again shortly.</summary>
    Wait,

    /// <summary>A known hole: read on after it.</summary>
    Skip,

    /// <summary>The gap has lasted long enough to be a hole, declared now (log it and count it, once): read on after it.</summary>
    SkipNewHole,
}

/// <summary>
/// The node's register of holes in the journal: sequence numbers missing while later ones are there (a row deleted
/// or lost by the database). Readers (every joining connection, every document's gap filling) report the gaps they
/// meet; the first report of a gap starts its clock, and once it has lasted the timeout it is a hole, declared
/// once for the whole node, which every reader skips from then on without waiting. A gap with no later row is
/// not reported: that is a write not yet visible, not a hole. Thread-safe: readers run on stream threads.
/// </summary>
internal sealed class JournalHoles
{
    private readonly object _lock = new();
    private readonly List<JournalHole> _holes = new();
    private readonly Dictionary<(DocumentName Document, long From), (long FirstSeen, long LastSeen)> _gaps = new();

    /// <summary>How many holes were declared.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _holes.Count;
            }
        }
    }

    /// <summary>The holes declared so far, oldest first.</summary>
    public IReadOnlyList<JournalHole> Holes
    {
        get
        {
            lock (_lock)
            {
                return _holes.ToList();
            }
        }
    }

    /// <summary>
    /// A reader found nothing at <paramref name="from"/> to <paramref name="to"/> of <paramref name="document"/>
    /// while the journal has a row after <paramref name="to"/>, at <paramref name="nowMs"/> (milliseconds on a monotonic
    /// clock). The gap is a hole once it has been seen for <paramref name="skipAfter"/>.
    /// </summary>
    public GapVerdict Observe(DocumentName document, long from, long to, long nowMs, TimeSpan skipAfter)
    {
        lock (_lock)
        {
            if (_holes.Exists(hole => hole.Document.Equals(document) && hole.From <= from && to <= hole.To))
            {
                return GapVerdict.Skip;
            }

            ForgetStale(nowMs, skipAfter);
            var key = (document, from);
            var firstSeen = _gaps.TryGetValue(key, out var seen) ? seen.FirstSeen : nowMs;
            if (nowMs - firstSeen < (long)skipAfter.TotalMilliseconds)
            {
                _gaps[key] = (firstSeen, nowMs);
                return GapVerdict.Wait;
            }

            _gaps.Remove(key);
            _holes.Add(new JournalHole(document, from, to));
            return GapVerdict.SkipNewHole;
        }
    }

    // A gap nobody has reported for a whole timeout was filled (its rows committed) or its readers left: a later
    // report starts its clock anew, and the register does not grow with gaps that were never holes.
    private void ForgetStale(long nowMs, TimeSpan skipAfter)
    {
        var limit = (long)skipAfter.TotalMilliseconds;
        foreach (var (key, seen) in _gaps.ToList())
        {
            if (nowMs - seen.LastSeen > limit)
            {
                _gaps.Remove(key);
            }
        }
    }
}
