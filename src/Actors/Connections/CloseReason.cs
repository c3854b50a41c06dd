#nullable enable
namespace Relay.Actors.Connections;

/// <summary>
/// Why a connection ends, as the actors mean it. The Gateway turns each into what its client is told
/// (<c>src/Gateway/Sockets/CloseCodes.cs</c>); metrics count by it, never by text.
/// </summary>
public enum CloseReason
{
    /// <summary>The client left: its side of the connection is gone, or the Gateway ended it for its own reasons.</summary>
    ClientLeft,

    /// <summary>The connection ended on the server's side without a fault of the client's (its actor stopped).</summary>
    Ended,

    /// <summary>The node is stopping.</summary>
    Stopping,

    /// <summary>The client did not read what it was sent, and its queue reached its limit.</summary>
    SlowConsumer,

    /// <summary>A client that numbers its patches (<c>relay.v1</c>) sent an id that is not one more than the one before.</summary>
    IdsOutOfOrder,

    /// <summary>
    /// A named client (<c>relay.v1</c>) sent a patch id already journaled under its name that is no resend: another
    /// payload under that id, or ids below the last journaled one that stop short of it. Two writers share the name, or
    /// the client lost its counter (the hello's <c>lastId</c> says where to continue).
    /// </summary>
    IdReused,

    /// <summary>
    /// The document's history was replaced: deleted by the server API (its next history starts at 1 under a new epoch),
    /// or the journal restored to another. The client should connect again for the new history.
    /// </summary>
    HistoryReplaced,

    /// <summary>The sequencer confirmed nothing for too long (journal down, no sequencer): the client should come back later.</summary>
    Unavailable,
}
