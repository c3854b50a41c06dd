using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using Akka.Actor;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Gateway.Operations;

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
    private readonly RelayConnection _connection;
    private readonly RelayOptions _options;
    private readonly ILogger<SocketSession> _logger;
    private readonly ConnectionMonitor _monitor;
    private readonly DocumentName _document;
    private readonly bool _enveloped;
    private MessageLimits? _limits;
    private CloseRequest? _closeByClient;

    /// <summary>Wraps an accepted socket and the connection opened for it to <paramref name="document"/>, speaking <paramref name="protocol"/>.</summary>
    public SocketSession(
        WebSocket socket,
        FrameBatchingStream? stream,
        SocketSessions sessions,
        RelayConnection connection,
        DocumentName document,
        ClientProtocol protocol,
        RelayOptions options,
        ILogger<SocketSession> logger)
    {
        _document = document;
        _enveloped = protocol.Enveloped;
        _socket = socket;
        _stream = stream;
        _sessions = sessions;
        _connection = connection;
        _options = options;
        _logger = logger;
        _monitor = new ConnectionMonitor(options.MaxMessagesPerSecond, options.MaxBytesPerSecond, logger);
    }

    /// <summary>Runs until the socket is closed by either side.</summary>
    /// <remarks>
    /// No cancellation tokens: each would register a callback per receive on every idle connection. A broken
    /// connection fails the pending receive; a stuck one is ended with <see cref="WebSocket.Abort"/>.
    /// </remarks>
    public async Task RunAsync()
    {
        var (connectionId, link, actor) = _connection;
        _logger.LogDebug("Connection {ConnectionId} opened", connectionId);
        var writer = WriteLoopAsync(link);
        var reader = ReadLoopAsync(link, actor);
        try
        {
            // The reader closes the link whenever it stops, so this also waits for the client leaving.
            var request = await link.Closed;

            // The writer sends the close frame after the frame it is writing; a client that reads nothing
            // never lets that write finish, so it is cut off after a grace period.
            if (await Task.WhenAny(writer, Task.Delay(CloseGrace)) != writer)
            {
                _logger.LogDebug("Connection {ConnectionId} did not take its close frame; aborting", connectionId);
                _socket.Abort();
            }

            if (await Task.WhenAny(reader, Task.Delay(CloseGrace)) != reader)
            {
                _socket.Abort();
            }
            else if (_socket.State == WebSocketState.CloseSent)
            {
                // The reader stopped on bad input after the close frame went out. Closing the TCP connection
                // now would reset it under the client's answering close frame, and the client would see a
                // broken connection instead of the close code: wait for the answer first.
                var drain = DrainUntilClosedAsync();
                if (await Task.WhenAny(drain, Task.Delay(CloseGrace)) != drain)
                {
                    _socket.Abort();
                }
            }

            _logger.LogDebug("Connection {ConnectionId} closed with {Code} ({Reason})", connectionId, request.Code, request.Reason);
        }
        finally
        {
            var closedFor = link.Closed.IsCompleted ? await link.Closed : null;
            if (_socket.State == WebSocketState.Aborted && _stream is not null && closedFor?.Code == RelayCloseCodes.InvalidPayload)
            {
                // The runtime rejected the text frame itself: it sent 1007 and aborted. Ending the request now
                // would reset the connection under the client's answering close frame and lose the 1007.
                await _stream.LingerAsync(CloseGrace);
            }

            actor.Tell(ConnectionActor.ClientDisconnected.Instance);
            link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "socket gone"));
            _sessions.Remove(connectionId);
            if (!reader.IsCompleted || !writer.IsCompleted)
            {
                _socket.Abort();
            }

            var closed = await link.Closed;
            _monitor.OnClosed(connectionId, closed, byClient: ReferenceEquals(closed, _closeByClient));
            _monitor.Dispose();
            await Task.WhenAll(reader, writer).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _limits?.Dispose();
        }
    }

    private async Task ReadLoopAsync(ClientLink link, IActorRef actor)
    {
        try
        {
            while (true)
            {
                // A zero-byte receive waits for the next frame without holding a buffer, so an idle
                // connection costs no receive memory.
                var peek = await _socket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None);
                if (peek.MessageType == WebSocketMessageType.Close)
                {
                    CloseFromClient(link);
                    return;
                }

                var isText = peek.MessageType == WebSocketMessageType.Text;
                var payload = peek.EndOfMessage ? [] : await ReceiveMessageAsync(link);
                if (payload is null || link.Closed.IsCompleted)
                {
                    return;
                }

                if (isText && !Utf8.IsValid(payload))
                {
                    link.Close(new CloseRequest(RelayCloseCodes.InvalidPayload, "text frame is not valid UTF-8"));
                    return;
                }

                if (!_monitor.OnReceived())
                {
                    link.Close(ConnectionMonitor.RateLimited);
                    return;
                }

                var frame = new ConnectionActor.ClientFrame(payload, isText);
                if (_enveloped)
                {
                    if (!RelayV1.TryReadPatch(payload, out var id, out var patch, out var error))
                    {
                        link.Close(new CloseRequest(RelayCloseCodes.PolicyViolation, "bad relay.v1 frame: " + error));
                        return;
                    }

                    frame = new ConnectionActor.ClientFrame(patch, isText, id);
                }

                await link.AcquireCreditsForAsync(frame.Payload.Length);
                actor.Tell(frame);
            }
        }
        catch (WebSocketException ex) when (IsRuntimeUtf8Rejection(ex) || _socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData)
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
    private async Task<byte[]?> ReceiveMessageAsync(ClientLink link)
    {
        // The message's first frame has arrived: from now on it has a deadline and a fragment budget.
        _limits ??= new MessageLimits(_options, link.Close);
        _limits.Begin();
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

                var result = await _socket.ReceiveAsync(buffer.AsMemory(received), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseFromClient(link);
                    return null;
                }

                received += result.Count;
                if (link.Closed.IsCompleted)
                {
                    // Closed meanwhile (the deadline passed, or the connection actor closed it): stop reading.
                    return null;
                }

                if (received > _options.MaxMessageBytes)
                {
                    link.Close(new CloseRequest(RelayCloseCodes.MessageTooBig, $"message larger than {_options.MaxMessageBytes} bytes"));
                    return null;
                }

                // After the size check, so a message too big is told so rather than over its byte rate.
                if (!_monitor.OnArrived(result.Count))
                {
                    link.Close(ConnectionMonitor.ByteRateLimited);
                    return null;
                }

                if (result.EndOfMessage)
                {
                    return buffer.AsSpan(0, received).ToArray();
                }

                // A receive returns the rest of the current frame or fills the buffer: one that stopped short
                // ended a frame (one that ends a frame exactly at the buffer's end goes uncounted, at most once per
                // doubling of the buffer).
                if (received < buffer.Length && !_limits.OnFragment())
                {
                    link.Close(_limits.TooManyFragments);
                    return null;
                }
            }
        }
        finally
        {
            _limits.End();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task DrainUntilClosedAsync()
    {
        var scratch = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        try
        {
            while (_socket.State == WebSocketState.CloseSent)
            {
                var result = await _socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or IOException or ObjectDisposedException)
        {
            // Nothing more to read: the connection is done.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void CloseFromClient(ClientLink link)
    {
        // Echo the client's close code, as the closing handshake asks; codes that may not be sent become 1000.
        // The request is remembered, so that the client's choice of code is never counted as the server's.
        var code = (int?)_socket.CloseStatus ?? (int)WebSocketCloseStatus.NormalClosure;
        _closeByClient = new CloseRequest(code is 1005 or 1006 or 1015 ? 1000 : code, _socket.CloseStatusDescription ?? string.Empty);
        link.Close(_closeByClient);
    }

    // The runtime's WebSocket validates text frames itself: on bad UTF-8 it sends 1007 and throws a bare
    // Faulted exception, with neither message nor inner exception (its other receive errors carry one).
    private static bool IsRuntimeUtf8Rejection(WebSocketException ex) =>
        ex.WebSocketErrorCode == WebSocketError.Faulted && ex.InnerException is null && ex.Message == BareFaultMessage;

    private static readonly string BareFaultMessage = new WebSocketException(WebSocketError.Faulted).Message;

    private async ValueTask SendEnvelopedAsync(OutboundFrame frame)
    {
        var (buffer, length, isText) = RelayV1.Encode(frame, _document);
        try
        {
            await _socket.SendAsync(
                buffer.AsMemory(0, length),
                isText ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                endOfMessage: true,
                CancellationToken.None);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteLoopAsync(ClientLink link)
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

                    if (_enveloped)
                    {
                        await SendEnvelopedAsync(frame);
                    }
                    else
                    {
                        await _socket.SendAsync(
                            frame.Payload,
                            frame.IsText ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                            endOfMessage: true,
                            CancellationToken.None);
                    }

                    link.OnSent(frame);
                    ConnectionMonitor.OnSent(frame.Payload.Length);
                }
            }

            var request = await link.Closed;
            if (_stream is not null)
            {
                _stream.Hold = false;
            }

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)request.Code, request.Reason, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The socket is gone; nothing more can be written.
        }
    }
}
