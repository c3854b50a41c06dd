using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;

namespace Relay.Testing;

/// <summary>A message a <see cref="RelayClient"/> received.</summary>
public sealed record Received(byte[] Payload, bool IsText)
{
    /// <summary>The payload as UTF-8 text.</summary>
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>
/// A real WebSocket client (System.Net.WebSockets.ClientWebSocket) that reads everything it receives into
/// a queue, so tests can await messages with timeouts and check how the server closed the socket.
/// </summary>
public sealed class RelayClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket = new();
    private readonly Channel<Received> _received = Channel.CreateUnbounded<Received>();
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly TaskCompletionSource<(WebSocketCloseStatus? Status, string? Description)> _closed =
        new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _readLoop;
    private HttpMessageInvoker? _invoker;

    private RelayClient()
    {
    }

    /// <summary>Completes when the server closed the socket, with its close status (null when the connection just broke).</summary>
    public Task<(WebSocketCloseStatus? Status, string? Description)> Closed => _closed.Task;

    /// <summary>The underlying socket.</summary>
    public ClientWebSocket Socket => _socket;

    /// <summary>Connects to <paramref name="url"/>; with <paramref name="read"/> false nothing is read (a client that stopped reading).</summary>
    public static Task<RelayClient> ConnectAsync(Uri url, bool read = true, CancellationToken cancellationToken = default) =>
        ConnectAsync(url, _ => { }, read, cancellationToken);

    /// <summary>Connects to <paramref name="url"/> with options set by <paramref name="configure"/> (headers such as Origin or Authorization).</summary>
    public static async Task<RelayClient> ConnectAsync(Uri url, Action<ClientWebSocketOptions> configure, bool read = true, CancellationToken cancellationToken = default)
    {
        var client = new RelayClient();
        configure(client._socket.Options);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await client._socket.ConnectAsync(url, timeout.Token);
        if (read)
        {
            client.StartReading();
        }

        return client;
    }

    /// <summary>
    /// Connects like <see cref="ConnectAsync(Uri, bool, CancellationToken)"/>, with the socket's kernel receive buffer
    /// capped at <paramref name="receiveBufferBytes"/>: loopback buffers otherwise grow to tens of megabytes, and a
    /// client that stops reading would take that long to push back on the server.
    /// </summary>
    public static async Task<RelayClient> ConnectAsync(Uri url, bool read, int receiveBufferBytes, CancellationToken cancellationToken = default, Action<ClientWebSocketOptions>? configure = null)
    {
        var client = new RelayClient();
        configure?.Invoke(client._socket.Options);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
                {
                    NoDelay = true,
                    // Set before connecting, so the window the server sees is small from the start.
                    ReceiveBufferSize = receiveBufferBytes,
                };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        // The socket's stream belongs to the handler, so the invoker lives as long as the client.
        client._invoker = new HttpMessageInvoker(handler, disposeHandler: true);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await client._socket.ConnectAsync(url, client._invoker, timeout.Token);
        if (read)
        {
            client.StartReading();
        }

        return client;
    }

    /// <summary>Starts reading (for a client connected with read: false).</summary>
    public void StartReading() => _readLoop ??= Task.Run(ReadLoopAsync);

    /// <summary>Sends a text frame.</summary>
    public Task SendTextAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends a binary frame.</summary>
    public Task SendBinaryAsync(byte[] payload) => SendAsync(payload, WebSocketMessageType.Binary);

    /// <summary>Sends one frame of <paramref name="type"/>.</summary>
    public async Task SendAsync(byte[] payload, WebSocketMessageType type)
    {
        await _sendGate.WaitAsync();
        try
        {
            await _socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    /// <summary>The next message, or a <see cref="TimeoutException"/>.</summary>
    public async Task<Received> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no message within " + (timeout ?? TimeSpan.FromSeconds(10)));
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"socket closed ({_socket.CloseStatus} {_socket.CloseStatusDescription}) while a message was awaited");
        }
    }

    /// <summary>The next <paramref name="count"/> messages, all within <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<Received>> ReceiveManyAsync(int count, TimeSpan? timeout = null)
    {
        var list = new List<Received>(count);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            while (list.Count < count)
            {
                list.Add(await _received.Reader.ReadAsync(cts.Token));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"received {list.Count} of {count} messages");
        }

        return list;
    }

    /// <summary>Asserts that nothing arrives within <paramref name="window"/>; returns what did arrive otherwise.</summary>
    public async Task<Received?> ReceiveNothingAsync(TimeSpan window)
    {
        using var cts = new CancellationTokenSource(window);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Messages received and not yet taken.</summary>
    public int Pending => _received.Reader.Count;

    /// <summary>Closes the socket politely.</summary>
    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", cts.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                _socket.Abort();
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        if (_readLoop is not null)
        {
            await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _socket.Dispose();
        _invoker?.Dispose();
        _sendGate.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                WebSocketReceiveResult result;
                do
                {
                    result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                    message.Write(buffer, 0, result.Count);
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    _closed.TrySetResult((result.CloseStatus, result.CloseStatusDescription));
                    if (_socket.State == WebSocketState.CloseReceived)
                    {
                        // Complete the closing handshake as a browser would.
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
                    }

                    return;
                }

                await _received.Writer.WriteAsync(new Received(message.ToArray(), result.MessageType == WebSocketMessageType.Text));
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            _closed.TrySetResult((null, ex.Message));
        }
        finally
        {
            _received.Writer.TryComplete();
        }
    }
}
