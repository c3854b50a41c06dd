using System.Net.WebSockets;

namespace Relay.Bench;

/// <summary>
/// A lean WebSocket client for load: one receive loop that reads into one reused buffer and hands each
/// message to a sink, so receiving allocates nothing per message; sends come from one caller at a time.
/// </summary>
public sealed class WebSocketBenchClient : IBenchClient
{
    private readonly ClientWebSocket _socket = new();
    private readonly IMessageSink _sink;
    private byte[] _buffer;
    private long _received;
    private Task _readLoop = Task.CompletedTask;

    private WebSocketBenchClient(IMessageSink sink, int bufferSize)
    {
        _sink = sink;
        _buffer = new byte[bufferSize];
        _socket.Options.SetBuffer(bufferSize, bufferSize);
    }

    /// <inheritdoc />
    public long Received => Volatile.Read(ref _received);

    /// <inheritdoc />
    public string? Ended { get; private set; }

    /// <summary>
    /// Connects (offering <paramref name="subProtocol"/>, if given, which the server must then choose) and starts the
    /// receive loop.
    /// </summary>
    public static async Task<IBenchClient> ConnectAsync(Uri url, IMessageSink sink, TimeSpan timeout, int bufferSize = 4096, string? subProtocol = null)
    {
        var client = new WebSocketBenchClient(sink, bufferSize);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            if (subProtocol is not null)
            {
                client._socket.Options.AddSubProtocol(subProtocol);
            }

            await client._socket.ConnectAsync(url, cts.Token);
            if (subProtocol is not null && client._socket.SubProtocol != subProtocol)
            {
                throw new InvalidOperationException($"the server chose subprotocol '{client._socket.SubProtocol}', not {subProtocol}");
            }
        }
        catch
        {
            client._socket.Dispose();
            throw;
        }

        client._readLoop = Task.Run(client.ReadLoopAsync);
        return client;
    }

    /// <inheritdoc />
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
