namespace Relay.Bench;

/// <summary>What a bench client does with each message it receives; called on its one receive loop.</summary>
public interface IMessageSink
{
    /// <summary>One whole message; the span is only valid during the call.</summary>
    void OnMessage(ReadOnlySpan<byte> message);
}

/// <summary>A sink that only counts (senders must still read what others send, or the server stalls them).</summary>
public sealed class DiscardSink : IMessageSink
{
    /// <summary>The shared instance.</summary>
    public static readonly DiscardSink Instance = new();

    /// <inheritdoc />
    public void OnMessage(ReadOnlySpan<byte> message)
    {
    }
}

/// <summary>One client connection of the bench, whatever the protocol: it sends text patches and hands what it receives to its sink.</summary>
public interface IBenchClient : IAsyncDisposable
{
    /// <summary>Messages received so far.</summary>
    long Received { get; }

    /// <summary>Null while the connection is open; why it ended otherwise.</summary>
    string? Ended { get; }

    /// <summary>Sends one text patch; the buffer may be reused once this completes. One caller at a time.</summary>
    ValueTask SendTextAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);
}

/// <summary>How the bench opens clients on one server: raw WebSockets (Relay, the seed relay) or SignalR.</summary>
public interface IClientConnector
{
    /// <summary>Where the clients connect.</summary>
    Uri Url { get; }

    /// <summary>Opens a client whose received messages go to <paramref name="sink"/>.</summary>
    Task<IBenchClient> ConnectAsync(IMessageSink sink, TimeSpan timeout, int bufferSize = 4096);
}

/// <summary>Raw WebSocket clients: text frames in, text frames out, no envelope.</summary>
public sealed record WebSocketConnector(Uri Url) : IClientConnector
{
    /// <inheritdoc />
    public Task<IBenchClient> ConnectAsync(IMessageSink sink, TimeSpan timeout, int bufferSize = 4096) =>
        WebSocketBenchClient.ConnectAsync(Url, sink, timeout, bufferSize);
}

/// <summary>
/// <c>relay.v1</c> WebSocket clients (docs/protocol.md): the subprotocol is offered and must be chosen; each frame
/// goes to the sink as received, header and all (<see cref="RelayV1Frames"/> reads them).
/// </summary>
public sealed record RelayV1Connector(Uri Url) : IClientConnector
{
    /// <summary>The subprotocol's name.</summary>
    public const string SubProtocol = "relay.v1";

    /// <inheritdoc />
    public Task<IBenchClient> ConnectAsync(IMessageSink sink, TimeSpan timeout, int bufferSize = 4096) =>
        WebSocketBenchClient.ConnectAsync(Url, sink, timeout, bufferSize, SubProtocol);
}

/// <summary>
/// SignalR hub connections (JSON protocol, WebSockets only, no negotiation): by default the .NET client library's
/// <see cref="SignalRBenchClient"/> (it sizes its own buffers), or with <paramref name="Wire"/> the lean
/// <see cref="SignalRWireClient"/>.
/// </summary>
public sealed record SignalRConnector(Uri Url, bool Wire = false) : IClientConnector
{
    /// <summary>Whether <c>--signalr-client wire</c> was given for this process.</summary>
    public static bool WireByDefault { get; set; }

    /// <inheritdoc />
    public Task<IBenchClient> ConnectAsync(IMessageSink sink, TimeSpan timeout, int bufferSize = 4096) =>
        Wire || WireByDefault ? SignalRWireClient.ConnectAsync(Url, sink, timeout, bufferSize) : SignalRBenchClient.ConnectAsync(Url, sink, timeout);
}
