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
    private readonly SocketSessions _sessions;
    private readonly RelayOptions _options;
    private readonly ILogger<SocketSession> _logger;

    /// <summary>Wraps an accepted socket.</summary>
    public SocketSession(WebSocket socket, SocketSessions sessions, RelayOptions options, ILogger<SocketSession> logger)
    {
        _socket = socket;
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
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        try
        {
            while (true)
            {
                var received = 0;
                ValueWebSocketReceiveResult result;
                do
                {
                    if (received == buffer.Length)
                    {
                        if (buffer.Length >= _options.MaxMessageBytes + 1)
                        {
                            link.Close(new CloseRequest(RelayCloseCodes.MessageTooBig, $"message larger than {_options.MaxMessageBytes} bytes"));
                            return;
                        }

                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _options.MaxMessageBytes + 1));
                        buffer.AsSpan(0, received).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    result = await _socket.ReceiveAsync(buffer.AsMemory(received), cancellationToken);
                    received += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var code = (int?)_socket.CloseStatus ?? (int)WebSocketCloseStatus.NormalClosure;
                    link.Close(new CloseRequest(code is 1005 or 1006 or 1015 ? 1000 : code, _socket.CloseStatusDescription ?? string.Empty));
                    return;
                }

                if (received > _options.MaxMessageBytes)
                {
                    link.Close(new CloseRequest(RelayCloseCodes.MessageTooBig, $"message larger than {_options.MaxMessageBytes} bytes"));
                    return;
                }

                var isText = result.MessageType == WebSocketMessageType.Text;
                if (isText && !Utf8.IsValid(buffer.AsSpan(0, received)))
                {
                    link.Close(new CloseRequest(RelayCloseCodes.InvalidPayload, "text frame is not valid UTF-8"));
                    return;
                }

                var payload = buffer.AsSpan(0, received).ToArray();
                await link.AcquireCreditAsync(cancellationToken);
                actor.Tell(new ConnectionActor.ClientFrame(payload, isText));
            }
        }
        catch (WebSocketException ex) when (ex.WebSocketErrorCode == WebSocketError.InvalidMessageType || ex.Message.Contains("UTF-8", StringComparison.OrdinalIgnoreCase))
        {
            link.Close(new CloseRequest(RelayCloseCodes.InvalidPayload, "text frame is not valid UTF-8"));
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client went away; the finally below tells the actor.
            link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "client gone"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteLoopAsync(ClientLink link, CancellationToken cancellationToken)
    {
        var outbound = link.Outbound;
        try
        {
            while (await outbound.WaitToReadAsync(cancellationToken))
            {
                while (!link.Closed.IsCompleted && outbound.TryRead(out var frame))
                {
                    await _socket.SendAsync(
                        frame.Payload,
                        frame.IsText ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                        endOfMessage: true,
                        cancellationToken);
                    link.OnSent(frame);
                }

                // A close drops the frames still queued (a slow consumer's backlog, say): the close frame goes
                // next. Waiting on the channel again would return at once while frames remain, and spin.
                if (link.Closed.IsCompleted)
                {
                    break;
                }
            }

            var request = await link.Closed;
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
