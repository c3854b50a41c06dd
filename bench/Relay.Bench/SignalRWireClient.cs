using System.Text;

namespace Relay.Bench;

/// <summary>
/// A lean client of the SignalR relay for load: a raw WebSocket speaking the SignalR JSON hub protocol itself
/// (handshake, <c>Send</c> invocations, <c>patch</c> invocations in, pings both ways), so the bench measures the hub
/// rather than the .NET client library's parsing. Relies on the bench's patches being plain ASCII with nothing to
/// escape in JSON (see <see cref="Patch"/>). Chosen with <c>--signalr-client wire</c>.
/// </summary>
public sealed class SignalRWireClient : IBenchClient, IMessageSink
{
    private const byte RecordSeparator = 0x1e;
    private static readonly byte[] Handshake = Encoding.ASCII.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e");
    private static readonly byte[] Ping = Encoding.ASCII.GetBytes("{\"type\":6}\u001e");
    private static readonly byte[] SendPrefix = Encoding.ASCII.GetBytes("{\"type\":1,\"target\":\"Send\",\"arguments\":[\"");
    private static readonly byte[] SendSuffix = Encoding.ASCII.GetBytes("\"]}\u001e");
    private static readonly byte[] ArgumentsStart = Encoding.ASCII.GetBytes("\"target\":\"patch\",\"arguments\":[\"");

    private readonly IMessageSink _sink;
    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private IBenchClient? _socket;
    private byte[] _sendBuffer = new byte[256];
    private Timer? _keepAlive;

    private SignalRWireClient(IMessageSink sink) => _sink = sink;

    /// <inheritdoc />
    public long Received => _socket?.Received ?? 0;

    /// <inheritdoc />
    public string? Ended => _socket?.Ended;

    /// <summary>Connects to the hub's WebSocket endpoint (<c>ws://…/relay</c>) and sends the handshake.</summary>
    public static async Task<IBenchClient> ConnectAsync(Uri hubUrl, IMessageSink sink, TimeSpan timeout, int bufferSize)
    {
        var client = new SignalRWireClient(sink);
        var url = new UriBuilder(hubUrl) { Scheme = hubUrl.Scheme == "https" ? "wss" : "ws" }.Uri;
        client._socket = await WebSocketBenchClient.ConnectAsync(url, client, timeout, bufferSize);
        await client.SendRawAsync(Handshake, CancellationToken.None);

        // The hub closes a client it has not heard from for 30 s; the .NET client pings every 15 s too.
        client._keepAlive = new Timer(_ => _ = client.PingAsync(), null, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(15));
        return client;
    }

    /// <inheritdoc />
    public async ValueTask SendTextAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            var length = SendPrefix.Length + payload.Length + SendSuffix.Length;
            if (_sendBuffer.Length < length)
            {
                _sendBuffer = new byte[length * 2];
            }

            SendPrefix.CopyTo(_sendBuffer, 0);
            payload.Span.CopyTo(_sendBuffer.AsSpan(SendPrefix.Length));
            SendSuffix.CopyTo(_sendBuffer, SendPrefix.Length + payload.Length);
            await _socket!.SendTextAsync(_sendBuffer.AsMemory(0, length), cancellationToken);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    /// <summary>One WebSocket message: one or more records, each ending with 0x1E; invocations of <c>patch</c> go to the sink.</summary>
    public void OnMessage(ReadOnlySpan<byte> message)
    {
        while (message.Length > 0)
        {
            var end = message.IndexOf(RecordSeparator);
            var record = end < 0 ? message : message[..end];
            message = end < 0 ? default : message[(end + 1)..];
            var start = record.IndexOf(ArgumentsStart);
            if (start < 0)
            {
                continue; // the handshake reply, a ping
            }

            var argument = record[(start + ArgumentsStart.Length)..];
            var close = argument.IndexOf((byte)'"');
            _sink.OnMessage(close < 0 ? argument : argument[..close]);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_keepAlive is not null)
        {
            await _keepAlive.DisposeAsync();
        }

        if (_socket is not null)
        {
            await _socket.DisposeAsync();
        }
    }

    private async Task PingAsync()
    {
        try
        {
            await SendRawAsync(Ping, CancellationToken.None);
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The socket is gone; Ended says why.
        }
    }

    private async Task SendRawAsync(byte[] frame, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            await _socket!.SendTextAsync(frame, cancellationToken);
        }
        finally
        {
            _sendGate.Release();
        }
    }
}
