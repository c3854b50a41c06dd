using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Relay.Testing;

/// <summary>One <c>relay.v1</c> frame from the server: its header and, after the first newline, its payload.</summary>
public sealed record V1Frame(JsonElement Header, byte[] Payload, bool IsText)
{
    /// <summary>The header's <c>type</c>: <c>hello</c>, <c>patch</c> or <c>ack</c>.</summary>
    public string Type => Header.GetProperty("type").GetString()!;

    /// <summary>The header's <c>seq</c> (patch, ack).</summary>
    public long Seq => Header.GetProperty("seq").GetInt64();

    /// <summary>The payload as text.</summary>
    public string Text => Encoding.UTF8.GetString(Payload);

    /// <summary>Splits a received frame at its first newline (docs/protocol.md).</summary>
    public static V1Frame Parse(Received received)
    {
        var newline = Array.IndexOf(received.Payload, (byte)'\n');
        var header = newline < 0 ? received.Payload : received.Payload[..newline];
        var payload = newline < 0 ? [] : received.Payload[(newline + 1)..];
        return new V1Frame(JsonDocument.Parse(header).RootElement.Clone(), payload, received.IsText);
    }
}

/// <summary>A <c>relay.v1</c> client for tests: a <see cref="RelayClient"/> that offers the subprotocol and frames its patches.</summary>
public sealed class RelayV1Client : IAsyncDisposable
{
    private RelayV1Client(RelayClient client, V1Frame hello)
    {
        Client = client;
        Hello = hello;
    }

    /// <summary>The underlying socket client.</summary>
    public RelayClient Client { get; }

    /// <summary>The server's first frame.</summary>
    public V1Frame Hello { get; }

    /// <summary>The hello's epoch.</summary>
    public string Epoch => Hello.Header.GetProperty("epoch").GetString()!;

    /// <summary>The hello's head.</summary>
    public long Head => Hello.Header.GetProperty("head").GetInt64();

    /// <summary>Whether the hello says the connection resumed.</summary>
    public bool Resumed => Hello.Header.GetProperty("resumed").GetBoolean();

    /// <summary>Connects to <paramref name="url"/> (its query may name the client and the resume point) and reads the hello.</summary>
    public static async Task<RelayV1Client> ConnectAsync(Uri url)
    {
        var client = await RelayClient.ConnectAsync(url, options => options.AddSubProtocol("relay.v1"));
        if (client.Socket.SubProtocol != "relay.v1")
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"the server chose subprotocol '{client.Socket.SubProtocol}'");
        }

        return await OverAsync(client);
    }

    /// <summary>
    /// The <c>relay.v1</c> client over <paramref name="client"/>, a connection that has read nothing yet (one that
    /// did not read for a while, say): starts its reading and reads the hello.
    /// </summary>
    public static async Task<RelayV1Client> OverAsync(RelayClient client)
    {
        client.StartReading();
        var hello = V1Frame.Parse(await client.ReceiveAsync(TimeSpan.FromSeconds(20)));
        if (hello.Type != "hello")
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"the first frame was a {hello.Type}, not a hello");
        }

        return new RelayV1Client(client, hello);
    }

    /// <summary>Sends a text patch with id <paramref name="id"/>.</summary>
    public Task SendTextAsync(long id, string text) =>
        Client.SendAsync(Encoding.UTF8.GetBytes($"{{\"id\":{id}}}\n{text}"), WebSocketMessageType.Text);

    /// <summary>Sends a binary patch with id <paramref name="id"/>.</summary>
    public Task SendBinaryAsync(long id, byte[] payload) =>
        Client.SendAsync([.. Encoding.UTF8.GetBytes($"{{\"id\":{id}}}\n"), .. payload], WebSocketMessageType.Binary);

    /// <summary>The next frame.</summary>
    public async Task<V1Frame> ReceiveAsync(TimeSpan? timeout = null) => V1Frame.Parse(await Client.ReceiveAsync(timeout));

    /// <summary>The next <paramref name="count"/> frames.</summary>
    public async Task<IReadOnlyList<V1Frame>> ReceiveManyAsync(int count, TimeSpan? timeout = null) =>
        (await Client.ReceiveManyAsync(count, timeout)).Select(V1Frame.Parse).ToList();

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Client.DisposeAsync();
}
