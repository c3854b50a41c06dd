#nullable enable
namespace Relay.Actors.Journal;

/// <summary>
/// Which journal writes commit together (group commit): while <c>maxInFlight</c> commits are under way, new writes
/// wait, and when one commit ends the waiting ones go into the next as one group of at most <c>maxRows</c> rows
/// (always at least one write, however big). A lone writer is never held back; many writers share a commit, so
/// a busy journal commits less often with more rows in each. Plain state, not thread-safe: its journal uses it
/// from the journal actor's thread.
/// </summary>
internal sealed class CommitGroups<T>
{
    private readonly Queue<(T Write, int Rows)> _waiting = new();
    private readonly int _maxInFlight;
    private readonly int _maxRows;

    /// <summary>A new queue: at most <paramref name="maxInFlight"/> commits at once, groups of about <paramref name="maxRows"/> rows.</summary>
    public CommitGroups(int maxInFlight, int maxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        _maxInFlight = maxInFlight;
        _maxRows = maxRows;
    }

    /// <summary>Commits under way.</summary>
    public int InFlight { get; private set; }

    /// <summary>Writes waiting for the next commit.</summary>
    public int Waiting => _waiting.Count;

    /// <summary>
    /// A write of <paramref name="rows"/> rows arrived: the group to commit now (it alone, when a commit slot is
    /// free), or <c>null</c> when it waits for a commit to end.
    /// </summary>
    public IReadOnlyList<T>? Add(T write, int rows)
    {
        _waiting.Enqueue((write, rows));
        return InFlight < _maxInFlight ? Take() : null;
    }

    /// <summary>A commit ended, well or not: the next group to commit, or <c>null</c> when none waits.</summary>
    public IReadOnlyList<T>? Completed()
    {
        if (InFlight == 0)
        {
            throw new InvalidOperationException("No commit is under way");
        }

        InFlight--;
        return _waiting.Count > 0 ? Take() : null;
    }

    private List<T> Take()
    {
        var group = new List<T>();
        var rows = 0;
        while (_waiting.TryPeek(out var next) && (group.Count == 0 || rows + next.Rows <= _maxRows))
        {
            _waiting.Dequeue();
            group.Add(next.Write);
            rows += next.Rows;
        }

        InFlight++;
        return group;
    }
}
