using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Gateway.Operations;

namespace Relay.Gateway.Sockets;

/// <summary>
/// One accepted WebSocket: exactly one reader task and one writer task over the <see cref="ClientConnection"/>
/// opened for it. The reader submits each complete message, the writer writes each frame the connection hands
/// out, both through the client's <see cref="ClientCodec"/>; every frame, close frames included, is sent by the
/// writer. The close sent is the first decided: the Gateway's own (bad input, limits, the client's close), or
/// the connection's <see cref="CloseReason"/>.
/// </summary>
public sealed class SocketSession
{
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(5);
    private const int ReceiveChunk = 4096;

    private readonly WebSocket _socket;
    private readonly FrameBatchingStream? _stream;
    private readonly SocketSessions _sessions;
    private readonly ClientConnection _connection;
    private readonly ClientCodec _codec;
    private readonly DocumentName _document;
    private readonly int _maxMessageBytes;
    private readonly PresenceOptions _presence;
    private readonly GatewayOptions _options;
    private readonly ILogger<SocketSession> _logger;
    private readonly ConnectionMonitor _monitor;
    private MessageLimits? _limits;

    // The Gateway's own close, when it ended the connection itself (CloseReason.ClientLeft): what the client is told.
    private CloseFrame? _ownClose;

    /// <summary>Wraps an accepted socket and the connection opened for it to <paramref name="document"/>, read and written with <paramref name="codec"/>.</summary>
    public SocketSession(
        WebSocket socket,
        FrameBatchingStream? stream,
        SocketSessions sessions,
        ClientConnection connection,
        DocumentName document,
        ClientCodec codec,
        RelayOptions relay,
        GatewayOptions options,
        ILogger<SocketSession> logger)
    {
        _socket = socket;
        _stream = stream;
        _sessions = sessions;
        _connection = connection;
        _document = document;
        _codec = codec;
        _maxMessageBytes = relay.MaxMessageBytes;
        _presence = relay.Presence;
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
        var connectionId = _connection.Id;
        _logger.LogDebug("Connection {ConnectionId} opened", connectionId);
        var writer = WriteLoopAsync();
        var reader = ReadLoopAsync();
        var closeRecorded = false;
        try
        {
            // The reader ends the connection whenever it stops, so this also waits for the client leaving.
            var close = CloseFor(await _connection.Closed);

            // Counted and logged when decided, not once the client took it: one that reads nothing takes a grace period.
            _monitor.OnClosed(connectionId, close);
            closeRecorded = true;

            // The writer sends the close frame after the frame it is writing; a client that reads nothing
            // never lets that write finish, so it is cut off after a grace period.
            if (!await WithinGraceAsync(writer))
            {
                _logger.LogDebug("Connection {ConnectionId} did not take its close frame; aborting", connectionId);
                _socket.Abort();
            }

            if (!await WithinGraceAsync(reader))
            {
                _socket.Abort();
            }
            else if (_socket.State == WebSocketState.CloseSent && !await WithinGraceAsync(DrainUntilClosedAsync()))
            {
                // The reader stopped on bad input after the close frame went out. Closing the TCP connection
                // now would reset it under the client's answering close frame, and the client would see a
                // broken connection instead of the close code: it had its grace period to answer.
                _socket.Abort();
            }

            _logger.LogDebug("Connection {ConnectionId} closed with {Code} ({Reason})", connectionId, close.Code, close.Reason);
        }
        finally
        {
            if (_socket.State == WebSocketState.Aborted && _stream is not null &&
                _connection.Closed.IsCompleted && CloseFor(_connection.Closed.Result).Code == CloseCodes.InvalidPayload)
            {
                // The runtime rejected the text frame itself: it sent 1007 and aborted. Ending the request now
                // would reset the connection under the client's answering close frame and lose the 1007.
                await _stream.LingerAsync(CloseGrace);
            }

            _connection.Disconnect();
            _sessions.Remove(connectionId);
            if (!reader.IsCompleted || !writer.IsCompleted)
            {
                _socket.Abort();
            }

            if (!closeRecorded)
            {
                _monitor.OnClosed(connectionId, CloseFor(await _connection.Closed));
            }

            _monitor.Dispose();
            await Task.WhenAll(reader, writer).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _limits?.Dispose();
        }
    }

    /// <summary>Ends the connection with the Gateway's own <paramref name="close"/>, unless it has ended already.</summary>
    private void Close(CloseFrame close)
    {
        if (!_connection.Closed.IsCompleted)
        {
            Interlocked.CompareExchange(ref _ownClose, close, null);
        }

        _connection.Disconnect();
    }

    /// <summary>What the client is told for the connection's end: the Gateway's own close when it ended it, else the actors' reason.</summary>
    private CloseFrame CloseFor(CloseReason reason) =>
        reason == CloseReason.ClientLeft ? Volatile.Read(ref _ownClose) ?? CloseCodes.ClientGone : CloseCodes.For(reason);

    private static async Task<bool> WithinGraceAsync(Task task) => await Task.WhenAny(task, Task.Delay(CloseGrace)) == task;

    private async Task ReadLoopAsync()
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
                    CloseFromClient();
                    return;
                }

                var isText = peek.MessageType == WebSocketMessageType.Text;
                var message = peek.EndOfMessage ? [] : await ReceiveMessageAsync();
                if (message is null || _connection.Closed.IsCompleted)
                {
                    return;
                }

                if (isText && !Utf8.IsValid(message))
                {
                    Close(CloseCodes.InvalidUtf8);
                    return;
                }

                if (!_monitor.OnReceived())
                {
                    Close(CloseCodes.RateLimited);
                    return;
                }

                if (!_codec.TryDecode(message, out var decoded, out var unreadable))
                {
                    Close(unreadable!);
                    return;
                }

                if (decoded.Kind == ClientMessageKind.Patch)
                {
                    await _connection.SubmitAsync(decoded.Payload, isText, decoded.Id);
                }
                else if (!TakePresenceFrame(decoded, isText))
                {
                    return;
                }
            }
        }
        catch (WebSocketException ex) when (IsRuntimeUtf8Rejection(ex) || _socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData)
        {
            Close(CloseCodes.InvalidUtf8);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The client went away, or the connection ended while the reader waited for room.
            Close(CloseCodes.ClientGone);
        }
    }

    /// <summary>
    /// Hands a <c>relay.v1</c> presence, broadcast or ping frame to the connection (none of them journaled); false once
    /// it closed the connection instead: presence is off on this node, or the state breaks its limits.
    /// </summary>
    private bool TakePresenceFrame(ClientMessage message, bool isText)
    {
        if (!_presence.Enabled)
        {
            Close(CloseCodes.PresenceOff);
            return false;
        }

        switch (message.Kind)
        {
            case ClientMessageKind.Presence when message.Payload.IsEmpty:
                _connection.SetPresence(message.Payload);
                break;
            case ClientMessageKind.Presence:
                if (!RelayV1.TryCheckPresenceState(message.Payload, isText, _presence.MaxStateBytes, out var tooBig, out var error))
                {
                    Close(tooBig ? CloseCodes.PresenceStateTooBig(_presence.MaxStateBytes) : CloseCodes.BadPresenceState(error));
                    return false;
                }

                _connection.SetPresence(message.Payload);
                break;
            case ClientMessageKind.Broadcast:
                _connection.Broadcast(message.Payload, isText);
                break;
            default:
                _connection.Ping();
                break;
        }

        return true;
    }

    /// <summary>Reads the rest of the current message; null when the socket is to close instead.</summary>
    private async Task<byte[]?> ReceiveMessageAsync()
    {
        // The message's first frame has arrived: from now on it has a deadline and a fragment budget.
        _limits ??= new MessageLimits(_options, Close);
        _limits.Begin();
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        try
        {
            var received = 0;
            while (true)
            {
                if (received == buffer.Length)
                {
                    if (received > _maxMessageBytes)
                    {
                        Close(CloseCodes.TooBig(_maxMessageBytes));
                        return null;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _maxMessageBytes + 1));
                    buffer.AsSpan(0, received).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(received), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseFromClient();
                    return null;
                }

                received += result.Count;
                if (_connection.Closed.IsCompleted)
                {
                    // Closed meanwhile (the deadline passed, or the connection ended): stop reading.
                    return null;
                }

                if (received > _maxMessageBytes)
                {
                    Close(CloseCodes.TooBig(_maxMessageBytes));
                    return null;
                }

                // After the size check, so a message too big is told so rather than over its byte rate.
                if (!_monitor.OnArrived(result.Count))
                {
                    Close(CloseCodes.ByteRateLimited);
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
                    Close(_limits.TooManyFragments);
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

    private void CloseFromClient() => Close(CloseCodes.FromClient((int?)_socket.CloseStatus, _socket.CloseStatusDescription));

    // The runtime's WebSocket validates text frames itself: on bad UTF-8 it sends 1007 and throws a bare
    // Faulted exception, with neither message nor inner exception (its other receive errors carry one).
    private static bool IsRuntimeUtf8Rejection(WebSocketException ex) =>
        ex.WebSocketErrorCode == WebSocketError.Faulted && ex.InnerException is null && ex.Message == BareFaultMessage;

    private static readonly string BareFaultMessage = new WebSocketException(WebSocketError.Faulted).Message;

    private async Task WriteLoopAsync()
    {
        try
        {
            while (await _connection.WaitToReadAsync())
            {
                while (_connection.TryRead(out var frame))
                {
                    if (_stream is not null)
                    {
                        // This writer is the only reader of the queue: a frame seen now is sent next, so
                        // holding this one back until then never strands it.
                        _stream.Hold = _connection.HasQueued;
                    }

                    using (var encoded = _codec.Encode(frame, _document))
                    {
                        await _socket.SendAsync(
                            encoded.Bytes,
                            encoded.IsText ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                            endOfMessage: true,
                            CancellationToken.None);
                    }

                    _connection.OnSent(frame);
                    ConnectionMonitor.OnSent(frame.QueuedBytes);
                }
            }

            var close = CloseFor(await _connection.Closed);
            if (_stream is not null)
            {
                _stream.Hold = false;
            }

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync((WebSocketCloseStatus)close.Code, close.Reason, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The socket is gone or closed; nothing more can be written by this loop.
        }
        finally
        {
            await ReleaseHeldAsync();
        }
    }

    /// <summary>Sends what the batching stream still holds, such as a close frame the runtime wrote itself.</summary>
    private async Task ReleaseHeldAsync()
    {
        if (_stream is null)
        {
            return;
        }

        try
        {
            await _stream.ReleaseAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is gone: nothing held can reach the client.
        }
    }
}
