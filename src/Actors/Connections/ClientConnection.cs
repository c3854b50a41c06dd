#nullable enable
using Akka.Actor;

namespace Relay.Actors.Connections;

/// <summary>
/// One client's connection to one document, as the Gateway holds it: the one contract between the client's
/// reader and writer and the actors. The reader hands each complete message to <see cref="SubmitAsync"/>; the
/// writer takes typed frames with <see cref="WaitToReadAsync"/> and <see cref="TryRead"/> and reports each one
/// written with <see cref="OnSent"/>; <see cref="Disconnect"/> ends it from the client's side, and
/// <see cref="Closed"/> says why it ended, whichever side ended it. Opened by
/// <see cref="Documents.RelayDocuments.ConnectAsync"/>.
/// </summary>
/// <remarks>
/// Everything is bounded: frames for the client by bytes (<c>Relay:MaxOutboundBytesPerConnection</c>; a client that
/// does not read is closed with <see cref="CloseReason.SlowConsumer"/>), the client's messages waiting for the
/// journal by credits (<c>Relay:MaxInFlightPerConnection</c>; <see cref="SubmitAsync"/> waits for room, which
/// back-pressures the reader).
/// </remarks>
public sealed class ClientConnection
{
    private readonly ClientLink _link;
    private readonly IActorRef _actor;
    private int _disconnected;

    internal ClientConnection(string id, ClientLink link, IActorRef actor)
    {
        Id = id;
        _link = link;
        _actor = actor;
    }

    /// <summary>The connection's id, unique in the cluster.</summary>
    public string Id { get; }

    /// <summary>Completes once the connection has ended, with the first reason given for it.</summary>
    public Task<CloseReason> Closed => _link.Closed;

    /// <summary>
    /// Hands the client's next message to its connection, once there is room for it among the messages the
    /// sequencer has not confirmed yet. <paramref name="id"/>: the patch id a <c>relay.v1</c> client gave it; 0 for
    /// a client of raw frames, whose messages the connection numbers itself. Throws
    /// <see cref="OperationCanceledException"/> when the connection ends while it waits. One caller at a time.
    /// </summary>
    public async ValueTask SubmitAsync(ReadOnlyMemory<byte> payload, bool isText, long id = 0)
    {
        var credits = await _link.AcquireCreditsForAsync(payload.Length).ConfigureAwait(false);
        _actor.Tell(new ConnectionActor.ClientFrame(payload, isText, id, credits));
    }

    /// <summary>
    /// <c>relay.v1</c> with presence on: sets the client's presence state, a JSON object the Gateway checked (empty:
    /// clears it). Not journaled; coalesced over <c>Relay:Presence:MaxUpdatesPerSecond</c>.
    /// </summary>
    public void SetPresence(ReadOnlyMemory<byte> state) => _actor.Tell(new ConnectionActor.ClientPresence(state));

    /// <summary><c>relay.v1</c> with presence on: sends <paramref name="payload"/> to the document's other clients, not journaled, at most once.</summary>
    public void Broadcast(ReadOnlyMemory<byte> payload, bool isText) => _actor.Tell(new ConnectionActor.ClientBroadcast(payload, isText));

    /// <summary><c>relay.v1</c> with presence on: the client's sign of life, which keeps it listed.</summary>
    public void Ping() => _actor.Tell(ConnectionActor.ClientPing.Instance);

    /// <summary>
    /// For the client's single writer: completes with true once a frame is queued, or with false once the
    /// connection has ended. Frames queued before the end are not handed out after it.
    /// </summary>
    public ValueTask<bool> WaitToReadAsync() => _link.WaitToReadAsync();

    /// <summary>For the client's single writer: takes the next frame, unless the connection has ended.</summary>
    public bool TryRead([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OutboundFrame? frame) => _link.TryRead(out frame);

    /// <summary>For the client's single writer: whether another frame waits after the one it took.</summary>
    public bool HasQueued => _link.HasQueued;

    /// <summary>The writer reports <paramref name="frame"/> written out, which frees its room in the queue.</summary>
    public void OnSent(OutboundFrame frame) => _link.OnSent(frame);

    /// <summary>
    /// Ends the connection from the client's side: the client is gone, or the Gateway closes it for a reason of its
    /// own (<see cref="CloseReason.ClientLeft"/>), or the node stops (<see cref="CloseReason.Stopping"/>). What the
    /// client sent and the sequencer has not confirmed yet is still journaled. Only the first call counts.
    /// </summary>
    public void Disconnect(CloseReason reason = CloseReason.ClientLeft)
    {
        _link.Close(reason);
        if (Interlocked.Exchange(ref _disconnected, 1) == 0)
        {
            _actor.Tell(ConnectionActor.ClientDisconnected.Instance);
        }
    }
}
