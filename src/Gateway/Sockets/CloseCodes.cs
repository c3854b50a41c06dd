using Relay.Actors.Connections;

namespace Relay.Gateway.Sockets;

/// <summary>
/// What a client is told when its socket closes: an RFC 6455 close code (section 7.4.1) with a reason text, and
/// the <see cref="Disconnect"/> it counts as in <c>relay_disconnects_total</c>. The one place where the actors'
/// <see cref="CloseReason"/>s become codes, and where the Gateway's own reasons are written.
/// </summary>
public static class CloseCodes
{
    /// <summary>A normal close.</summary>
    public const int Normal = 1000;

    /// <summary>The server is shutting down, or the connection ended on its side.</summary>
    public const int GoingAway = 1001;

    /// <summary>A text frame that is not valid UTF-8.</summary>
    public const int InvalidPayload = 1007;

    /// <summary>A client that broke a rule, such as not reading its patches.</summary>
    public const int PolicyViolation = 1008;

    /// <summary>A message larger than the configured limit.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>An unexpected server fault.</summary>
    public const int InternalError = 1011;

    /// <summary>The service restarts: here, the document's history was replaced; connect again for the new one.</summary>
    public const int ServiceRestart = 1012;

    /// <summary>The server cannot take the client's patches right now.</summary>
    public const int TryAgainLater = 1013;

    /// <summary>A text frame that is not valid UTF-8.</summary>
    public static readonly CloseFrame InvalidUtf8 = new(InvalidPayload, "text frame is not valid UTF-8", Disconnect.BadUtf8);

    /// <summary>A client over its message rate (<c>Relay:MaxMessagesPerSecond</c>).</summary>
    public static readonly CloseFrame RateLimited = new(PolicyViolation, "message rate limit exceeded", Disconnect.RateLimited);

    /// <summary>A client over its byte rate (<c>Relay:MaxBytesPerSecond</c>).</summary>
    public static readonly CloseFrame ByteRateLimited = new(PolicyViolation, "byte rate limit exceeded", Disconnect.RateLimited);

    /// <summary>A message not finished within <c>Relay:MessageTimeoutSeconds</c> of its first frame.</summary>
    public static readonly CloseFrame MessageTimedOut = new(PolicyViolation, "message not finished in time", Disconnect.MessageTimeout);

    /// <summary>A presence, broadcast or ping frame on a node with <c>Relay:Presence:Enabled</c> false.</summary>
    public static readonly CloseFrame PresenceOff = new(PolicyViolation, "presence is off on this server", Disconnect.Other);

    /// <summary>The client's side of the connection is gone (reset, or aborted).</summary>
    public static readonly CloseFrame ClientGone = new(GoingAway, "client gone", Disconnect.GoingAway);

    private static readonly CloseFrame ConnectionEnded = new(GoingAway, "connection ended", Disconnect.GoingAway);
    private static readonly CloseFrame ShuttingDown = new(GoingAway, "server shutting down", Disconnect.GoingAway);
    private static readonly CloseFrame SlowConsumer = new(PolicyViolation, "slow consumer", Disconnect.SlowReader);
    private static readonly CloseFrame IdsOutOfOrder = new(PolicyViolation, "patch ids must go up by one", Disconnect.Other);
    private static readonly CloseFrame IdReused = new(PolicyViolation, "patch id reused: another patch is journaled under this client and id; continue after lastId", Disconnect.Other);
    private static readonly CloseFrame Unavailable = new(TryAgainLater, "history unavailable, try again later", Disconnect.Other);
    private static readonly CloseFrame HistoryReplaced = new(ServiceRestart, "document history deleted or replaced: connect again for its new history", Disconnect.Other);

    /// <summary>What the client is told when the actors end its connection for <paramref name="reason"/>.</summary>
    public static CloseFrame For(CloseReason reason) => reason switch
    {
        CloseReason.ClientLeft => ClientGone,
        CloseReason.Ended => ConnectionEnded,
        CloseReason.Stopping => ShuttingDown,
        CloseReason.SlowConsumer => SlowConsumer,
        CloseReason.IdsOutOfOrder => IdsOutOfOrder,
        CloseReason.IdReused => IdReused,
        CloseReason.Unavailable => Unavailable,
        CloseReason.HistoryReplaced => HistoryReplaced,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "a close reason without a close code"),
    };

    /// <summary>A message larger than <paramref name="maxBytes"/> (<c>Relay:MaxMessageBytes</c>).</summary>
    public static CloseFrame TooBig(int maxBytes) => new(MessageTooBig, $"message larger than {maxBytes} bytes", Disconnect.Oversize);

    /// <summary>A message of more frames than <paramref name="maxFragments"/> (<c>Relay:MaxFragmentsPerMessage</c>).</summary>
    public static CloseFrame TooManyFragments(int maxFragments) => new(MessageTooBig, $"message of more than {maxFragments} fragments", Disconnect.Oversize);

    /// <summary>A presence state over <paramref name="maxBytes"/> (<c>Relay:Presence:MaxStateBytes</c>).</summary>
    public static CloseFrame PresenceStateTooBig(int maxBytes) => new(MessageTooBig, $"presence state over {maxBytes} bytes", Disconnect.Oversize);

    /// <summary>A presence state that is not a JSON object in a text frame, for the one-line <paramref name="error"/>.</summary>
    public static CloseFrame BadPresenceState(string error) => new(PolicyViolation, "bad presence state: " + error, Disconnect.Other);

    /// <summary>A message its protocol cannot read, for the one-line <paramref name="error"/>.</summary>
    public static CloseFrame Unreadable(string protocol, string error) => new(PolicyViolation, $"bad {protocol} frame: {error}", Disconnect.Other);

    /// <summary>
    /// The close the client started, echoed as the closing handshake asks: its own code, except the codes that may
    /// not be sent (1005, 1006, 1015), which become 1000. Counted as <see cref="Disconnect.ClientClosed"/>, whatever
    /// code it chose: a client closing with 1008 "slow consumer" was not closed by the server for reading slowly.
    /// </summary>
    public static CloseFrame FromClient(int? code, string? reason) =>
        new(code is null or 1005 or 1006 or 1015 ? Normal : code.Value, reason ?? string.Empty, Disconnect.ClientClosed);
}

/// <summary>A close frame to send: its <paramref name="Code"/>, its <paramref name="Reason"/> text and what it counts as.</summary>
public sealed record CloseFrame(int Code, string Reason, Disconnect CountsAs)
{
    /// <summary>Whether the close is the client's fault, worth a warning in the log.</summary>
    public bool IsFault => CountsAs != Disconnect.ClientClosed &&
                           Code is CloseCodes.InvalidPayload or CloseCodes.PolicyViolation or CloseCodes.MessageTooBig or CloseCodes.InternalError;
}

/// <summary>What a closed connection counts as: the <c>reason</c> label of <c>relay_disconnects_total</c>.</summary>
public enum Disconnect
{
    /// <summary><c>normal</c>: the server closed with 1000.</summary>
    Normal,

    /// <summary><c>going_away</c>: the server shut down, the connection ended on its side, or the client vanished.</summary>
    GoingAway,

    /// <summary><c>slow_reader</c>: the client did not read its patches fast enough.</summary>
    SlowReader,

    /// <summary><c>rate_limited</c>: the client sent more messages or bytes per second than allowed.</summary>
    RateLimited,

    /// <summary><c>oversize</c>: a message over the size or fragment limit.</summary>
    Oversize,

    /// <summary><c>bad_utf8</c>: a text frame that was not UTF-8.</summary>
    BadUtf8,

    /// <summary><c>message_timeout</c>: a message not finished within its deadline.</summary>
    MessageTimeout,

    /// <summary><c>client_closed</c>: the client closed the socket itself, whatever code and reason it chose.</summary>
    ClientClosed,

    /// <summary><c>other</c>: anything else, such as patch ids out of order or the history unavailable.</summary>
    Other,
}
