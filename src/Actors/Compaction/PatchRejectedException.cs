#nullable enable
namespace Relay.Actors.Compaction;

/// <summary>A patch the fold cannot apply exactly as its clients do: the document is then not compactable.</summary>
public sealed class PatchRejectedException : Exception
{
    /// <summary>Rejects a patch, saying why.</summary>
    public PatchRejectedException(string reason) : base(reason)
    {
    }
}
