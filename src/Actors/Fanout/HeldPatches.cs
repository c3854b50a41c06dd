#nullable enable
using Relay.Actors.Hosting;
using Relay.Actors.Messages;

namespace Relay.Actors.Fanout;

/// <summary>
/// How many live patches one holder keeps while the journal is read (a hub past a gap, a connection reading its
/// history), in count and payload bytes. One value for both, from <c>Relay:Replay:MaxBufferedBytes</c>.
/// </summary>
internal sealed record HeldLimits(int MaxPatches, long MaxBytes)
{
    private const int MaxPatchesHeld = 10_000;

    /// <summary>Defaults for production: those of the default options.</summary>
    public static readonly HeldLimits Default = From(new RelayOptions());

    /// <summary>The limits the node's options give.</summary>
    public static HeldLimits From(RelayOptions options) => new(MaxPatchesHeld, options.Replay.MaxBufferedBytes);
}

/// <summary>
/// Live patches held while the journal is read, by sequence number, each once; bounded by <see cref="HeldLimits"/>.
/// Past a limit everything held is dropped: the journal has every one of them, and reading them again beats an
/// unbounded buffer. Costs nothing until the first patch is held, and nothing again after <see cref="Release"/>.
/// </summary>
internal sealed class HeldPatches(HeldLimits limits)
{
    private SortedDictionary<long, PatchAppended>? _patches;

    /// <summary>Patches held.</summary>
    public int Count => _patches?.Count ?? 0;

    /// <summary>Payload bytes of the patches held.</summary>
    public long Bytes { get; private set; }

    /// <summary>The lowest sequence number held; only when <see cref="Count"/> is above 0.</summary>
    public long First => _patches!.First().Key;

    /// <summary>
    /// Holds <paramref name="patch"/> (a sequence number held already is ignored). False when it would pass a limit:
    /// then nothing is held any more, that patch included.
    /// </summary>
    public bool TryHold(PatchAppended patch)
    {
        if (Count >= limits.MaxPatches || Bytes + patch.Payload.Length > limits.MaxBytes)
        {
            Clear();
            return false;
        }

        _patches ??= new SortedDictionary<long, PatchAppended>();
        if (_patches.TryAdd(patch.Sequence, patch))
        {
            Bytes += patch.Payload.Length;
        }

        return true;
    }

    /// <summary>Takes the lowest patch held if its sequence number is at most <paramref name="through"/>.</summary>
    public bool TryTakeFirst(long through, out PatchAppended patch)
    {
        if (_patches is { Count: > 0 } && _patches.First() is var (sequence, first) && sequence <= through)
        {
            _patches.Remove(sequence);
            Bytes -= first.Payload.Length;
            patch = first;
            return true;
        }

        patch = null!;
        return false;
    }

    /// <summary>Drops the patches below <paramref name="next"/>: they were delivered another way.</summary>
    public void DropBelow(long next)
    {
        while (TryTakeFirst(next - 1, out _))
        {
        }
    }

    /// <summary>Takes every patch held, in order.</summary>
    public List<PatchAppended> TakeAll()
    {
        var all = _patches?.Values.ToList() ?? [];
        Clear();
        return all;
    }

    /// <summary>Drops everything held.</summary>
    public void Clear()
    {
        _patches?.Clear();
        Bytes = 0;
    }

    /// <summary>Drops everything held and the buffer with it.</summary>
    public void Release()
    {
        _patches = null;
        Bytes = 0;
    }
}
