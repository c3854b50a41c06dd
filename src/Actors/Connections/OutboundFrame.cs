#nullable enable
using Relay.Actors.Messages;

namespace Relay.Actors.Connections;

/// <summary>
/// One frame on its way to a client. A client of raw frames only ever gets <see cref="PatchFrame"/>s; the
/// Gateway's codec for the client's protocol turns each frame into bytes (docs/protocol.md).
/// </summary>
public abstract record OutboundFrame
{
    private protected OutboundFrame()
    {
    }

    /// <summary>The bytes this frame counts against the client's queue limit: its payload's.</summary>
    public abstract int QueuedBytes { get; }
}

/// <summary>A patch of the document, numbered <paramref name="Sequence"/>; its payload is shared by every client it goes to.</summary>
public sealed record PatchFrame(ReadOnlyMemory<byte> Payload, bool IsText, long Sequence) : OutboundFrame
{
    /// <inheritdoc />
    public override int QueuedBytes => Payload.Length;

    /// <summary>The frame of a journaled patch.</summary>
    public static PatchFrame Of(PatchAppended patch) => new(patch.Payload, patch.IsText, patch.Sequence);
}

/// <summary>The client's own patch <paramref name="Id"/> is journaled as <paramref name="Sequence"/> (<c>relay.v1</c>).</summary>
public sealed record AckFrame(long Id, long Sequence) : OutboundFrame
{
    /// <inheritdoc />
    public override int QueuedBytes => 0;
}

/// <summary>
/// The first frame of a <c>relay.v1</c> connection: the history named <paramref name="Epoch"/> has its head at
/// <paramref name="Head"/>; <paramref name="Resumed"/>: the client gets only what came after what it holds.
/// </summary>
public sealed record HelloFrame(long Head, long Epoch, bool Resumed) : OutboundFrame
{
    /// <summary>For a client that named itself: the last patch id journaled under its name (0: none); null otherwise.</summary>
    public long? LastId { get; init; }

    /// <inheritdoc />
    public override int QueuedBytes => 0;
}
