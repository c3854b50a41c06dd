using System.Text;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;

namespace Relay.Bench;

/// <summary>
/// A client of the SignalR relay (<c>bench/SignalRRelay</c>) as a C# app would write it: a <see cref="HubConnection"/>
/// over WebSockets with the JSON protocol, a patch as a string argument of <c>patch</c> (received) and <c>Send</c>
/// (sent). Each received string is encoded into one reused buffer for the sink; the client invokes handlers one
/// at a time, in order, so the buffer is never shared.
/// </summary>
public sealed class SignalRBenchClient : IBenchClient
{
    // The hub's names (bench/SignalRRelay/RelayHub.cs); the bench does not reference the server's assembly.
    private const string PatchMethod = "patch";
    private const string SendMethod = "Send";

    private readonly HubConnection _connection;
    private readonly IMessageSink _sink;
    private byte[] _buffer = new byte[4096];
    private long _received;
    private volatile string? _ended;

    private SignalRBenchClient(HubConnection connection, IMessageSink sink)
    {
        _connection = connection;
        _sink = sink;
    }

    /// <inheritdoc />
    public long Received => Volatile.Read(ref _received);

    /// <inheritdoc />
    public string? Ended => _ended;

    /// <summary>Connects (WebSocket upgrade and SignalR handshake) and starts receiving.</summary>
    public static async Task<IBenchClient> ConnectAsync(Uri url, IMessageSink sink, TimeSpan timeout)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(url, HttpTransportType.WebSockets, options => options.SkipNegotiation = true)
            .Build();
        var client = new SignalRBenchClient(connection, sink);
        connection.On<string>(PatchMethod, client.OnPatch);
        connection.Closed += error =>
        {
            client._ended = "closed: " + (error?.Message ?? "by the server");
            return Task.CompletedTask;
        };
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await connection.StartAsync(cts.Token);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return client;
    }

    /// <inheritdoc />
    public ValueTask SendTextAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        new(_connection.SendAsync(SendMethod, Encoding.UTF8.GetString(payload.Span), cancellationToken));

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private void OnPatch(string patch)
    {
        var length = Encoding.UTF8.GetByteCount(patch);
        if (length > _buffer.Length)
        {
            _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        }

        Encoding.UTF8.GetBytes(patch, _buffer);
        _sink.OnMessage(_buffer.AsSpan(0, length));
        Interlocked.Increment(ref _received);
    }
}
