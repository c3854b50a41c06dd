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

    /// <summary>
    /// Whether the frame travels on the ephemeral lane (presence, broadcasts): bounded on its own
    /// (<c>Relay:Presence:MaxQueuedBytes</c>), dropped when full, never counted towards a slow consumer.
    /// </summary>
    public virtual bool IsEphemeral => false;
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

    /// <summary>With presence on: the connection's presence id (docs/protocol.md, "Who a client is").</summary>
    public string? Client { get; init; }

    /// <summary>With presence on: the limits the client must know; null with presence off.</summary>
    public PresenceLimitsHello? Presence { get; init; }

    /// <inheritdoc />
    public override int QueuedBytes => 0;
}

/// <summary>The presence limits a hello names: <c>timeoutSeconds</c>, <c>maxStateBytes</c>, <c>maxUpdatesPerSecond</c>.</summary>
public sealed record PresenceLimitsHello(int TimeoutSeconds, int MaxStateBytes, int MaxUpdatesPerSecond);

/// <summary>A frame of the ephemeral lane: never journaled, dropped rather than queued past its bound.</summary>
public abstract record EphemeralFrame : OutboundFrame
{
    private protected EphemeralFrame()
    {
    }

    /// <inheritdoc />
    public override bool IsEphemeral => true;
}

/// <summary>The whole list of the document's other present clients (<c>present</c>), which replaces the client's list.</summary>
public sealed record PresentFrame(IReadOnlyList<Presence.PresenceEntry> Clients) : EphemeralFrame
{
    /// <inheritdoc />
    public override int QueuedBytes => Clients.Sum(Presence.PresenceFrame.SizeOf);
}

/// <summary>Another client's broadcast: its payload, byte for byte, in a frame of its type.</summary>
public sealed record BroadcastFrame(string Client, string User, ReadOnlyMemory<byte> Payload, bool IsText) : EphemeralFrame
{
    /// <inheritdoc />
    public override int QueuedBytes => Payload.Length + Client.Length + User.Length;
}
