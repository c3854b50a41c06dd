using System.Net.WebSockets;

namespace Relay.Bench;

/// <summary>What a <see cref="BenchClient"/> does with each message it receives; called on its one receive loop.</summary>
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

/// <summary>
/// A lean WebSocket client for load: one receive loop that reads into one reused buffer and hands each
/// message to a sink, so receiving allocates nothing per message; sends come from one caller at a time.
/// </summary>
public sealed class BenchClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly IMessageSink _sink;
    private byte[] _buffer;
    private long _received;
    private Task _readLoop = Task.CompletedTask;

    private BenchClient(IMessageSink sink, int bufferSize)
    {
        _sink = sink;
        _buffer = new byte[bufferSize];
        _socket.Options.SetBuffer(bufferSize, bufferSize);
    }

    /// <summary>Messages received so far.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Null while the socket is open; why it ended otherwise.</summary>
    public string? Ended { get; private set; }

    /// <summary>Connects and starts the receive loop.</summary>
    public static async Task<BenchClient> ConnectAsync(Uri url, IMessageSink sink, TimeSpan timeout, int bufferSize = 4096)
    {
        var client = new BenchClient(sink, bufferSize);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await client._socket.ConnectAsync(url, cts.Token);
        }
        catch
        {
            client._socket.Dispose();
            throw;
        }

        client._readLoop = Task.Run(client.ReadLoopAsync);
        return client;
    }

    /// <summary>Sends one text frame; the buffer may be reused once this completes.</summary>
    public ValueTask SendTextAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        _socket.SendAsync(payload, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var length = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (length == _buffer.Length)
                    {
                        Array.Resize(ref _buffer, _buffer.Length * 2);
                    }

                    result = await _socket.ReceiveAsync(_buffer.AsMemory(length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Ended = $"closed by server: {(int?)_socket.CloseStatus} {_socket.CloseStatusDescription}";
                    return;
                }

                _sink.OnMessage(_buffer.AsSpan(0, length));
                Interlocked.Increment(ref _received);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            Ended = "broken: " + ex.Message;
        }
    }
}
