using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using Akka.Actor;
using Relay.Actors.Connections;
using Relay.Actors.Hosting;

namespace Relay.Gateway.Sockets;

/// <summary>
/// One accepted WebSocket: exactly one reader task and one writer task, bridged to the connection actor by
/// a <see cref="ClientLink"/>. Every frame, close frames included, is sent by the writer.
/// </summary>
public sealed class SocketSession
{
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);
    private const int ReceiveChunk = 4096;

    private readonly WebSocket _socket;
    private readonly FrameBatchingStream? _stream;
    private readonly SocketSessions _sessions;
    private readonly RelayOptions _options;
    private readonly ILogger<SocketSession> _logger;

    /// <summary>Wraps an accepted socket.</summary>
    public SocketSession(WebSocket socket, FrameBatchingStream? stream, SocketSessions sessions, RelayOptions options, ILogger<SocketSession> logger)
    {
        _socket = socket;
        _stream = stream;
        _sessions = sessions;
        _options = options;
        _logger = logger;
    }

    /// <summary>Runs until the socket is closed by either side.</summary>
    public async Task RunAsync(CancellationToken requestAborted)
    {
        var (connectionId, link, actor) = _sessions.Open();
        _logger.LogDebug("Connection {ConnectionId} opened", connectionId);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        var writer = WriteLoopAsync(link, stop.Token);
        var reader = ReadLoopAsync(link, actor, stop.Token);
        try
        {
            await Task.WhenAny(reader, link.Closed);
            var request = await link.Closed;

            // The writer sends the close frame after the frame it is writing; a client that reads nothing
            // never lets that write finish, so it is cut off after a grace period.
            if (await Task.WhenAny(writer, Task.Delay(CloseGrace, requestAborted)) != writer)
            {
                _logger.LogDebug("Connection {ConnectionId} did not take its close frame; aborting", connectionId);
                _socket.Abort();
            }

            if (await Task.WhenAny(reader, Task.Delay(CloseGrace, requestAborted)) != reader)
            {
                _socket.Abort();
            }

            _logger.LogDebug("Connection {ConnectionId} closed with {Code} ({Reason})", connectionId, request.Code, request.Reason);
        }
        catch (OperationCanceledException)
        {
            _socket.Abort();
        }
        finally
        {
            await stop.CancelAsync();
            actor.Tell(ConnectionActor.ClientDisconnected.Instance);
            link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "socket gone"));
            _sessions.Remove(connectionId);
            await Task.WhenAll(reader, writer).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReadLoopAsync(ClientLink link, IActorRef actor, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                // A zero-byte receive waits for the next frame without holding a buffer, so an idle
                // connection costs no receive memory.
                var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, cancellationToken);
                if (peek.MessageType == WebSocketMessageType.Close)
                {
                    CloseFromClient(link);
                    return;
                }

                var isText = peek.MessageType == WebSocketMessageType.Text;
                var payload = peek.EndOfMessage ? [] : await ReceiveMessageAsync(link, cancellationToken);
                if (payload is null)
                {
                    return;
                }

                if (isText && !Utf8.IsValid(payload))
                {
                    link.Close(new CloseRequest(RelayCloseCodes.InvalidPayload, "text frame is not valid UTF-8"));
                    return;
                }

                await link.AcquireCreditAsync(cancellationToken);
                actor.Tell(new ConnectionActor.ClientFrame(payload, isText));
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.Faulted && _socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData)
        {
            link.Close(new CloseRequest(RelayCloseCodes.InvalidPayload, "text frame is not valid UTF-8"));
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client went away; RunAsync tells the actor.
            link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "client gone"));
        }
    }

    /// <summary>Reads the rest of the current message; null when the socket is to close instead.</summary>
    private async Task<byte[]?> ReceiveMessageAsync(ClientLink link, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        try
        {
            var received = 0;
            while (true)
            {
                if (received == buffer.Length)
                {
                    if (received > _options.MaxMessageBytes)
                    {
                        link.Close(new CloseRequest(RelayCloseCodes.MessageTooBig, $"message larger than {_options.MaxMessageBytes} bytes"));
                        return null;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _options.MaxMessageBytes + 1));
                    buffer.AsSpan(0, received).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(received), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseFromClient(link);
                    return null;
                }

                received += result.Count;
                if (received > _options.MaxMessageBytes)
                {
                    link.Close(new CloseRequest(RelayCloseCodes.MessageTooBig, $"message larger than {_options.MaxMessageBytes} bytes"));
                    return null;
                }

                if (result.EndOfMessage)
                {
                    return buffer.AsSpan(0, received).ToArray();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void CloseFromClient(ClientLink link)
    {
        // Echo the client's close code, as the closing handshake asks; codes that may not be sent become 1000.
        var code = (int?)_socket.CloseStatus ?? (int)WebSocketCloseStatus.NormalClosure;
        link.Close(new CloseRequest(code is 1005 or 1006 or 1015 ? 1000 : code, _socket.CloseStatusDescription ?? string.Empty));
    }

    private async Task WriteLoopAsync(ClientLink link, CancellationToken cancellationToken)
    {
        try
        {
            while (await link.WaitToReadAsync())
            {
                while (link.TryRead(out var frame))
                {
                    if (_stream is not null)
                    {
                        // This writer is the only reader of the queue: a frame seen now is sent next, so
                        // holding this one back until then never strands it.
                        _stream.Hold = link.HasQueued;
                    }

                    await _socket.SendAsync(
                        frame.Payload,
                        frame.IsText ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                        endOfMessage: true,
                        cancellationToken);
                    link.OnSent(frame);
                }
            }

            var request = await link.Closed;
            if (_stream is not null)
            {
                _stream.Hold = false;
            }

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)request.Code, request.Reason, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The socket is gone; nothing more can be written.
        }
    }
}
