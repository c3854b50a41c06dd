using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>Clients that misbehave at the TCP level do not stop the relay from serving the others.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class RobustnessSpecs
{
    private readonly SharedNodeFixture _fixture;

    public RobustnessSpecs(SharedNodeFixture fixture) => _fixture = fixture;

    private RelayNode Node => _fixture.Node;

    [Fact]
    public async Task Should_keep_relaying_when_clients_abort_mid_message()
    {
        var run = Guid.NewGuid().ToString("N");
        var watchers = await Node.ConnectAtLiveEdgeAsync(1);
        var watcher = watchers[0];
        try
        {
            for (var round = 0; round < 6; round++)
            {
                var quitter = await RelayClient.ConnectAsync(Node.WebSocketUrl);
                await quitter.SendTextAsync($"{run}:{round}");
                Assert.Equal($"{run}:{round}", (await watcher.ReceiveAsync()).Text);

                // Half a message, then the connection is cut without a close handshake.
                if (round % 2 == 0)
                {
                    await quitter.Socket.SendAsync(new byte[40_000], WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
                }

                quitter.Socket.Abort();
                await quitter.DisposeAsync();
            }

            await AssertRelayServesAsync(run);
            var end = $"{run}:end";
            await using var marker = await RelayClient.ConnectAsync(Node.WebSocketUrl);
            await marker.SendTextAsync(end);
            // Nothing of the half messages.
            Assert.DoesNotContain(await watcher.ReadUntilTextAsync(end), m => m.Payload.Length >= 40_000);
        }
        finally
        {
            await watchers.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_keep_relaying_after_garbage_bytes_on_the_port()
    {
        var junk = new byte[64 * 1024];
        new Random(1).NextBytes(junk);
        using (var raw = await ConnectRawAsync())
        {
            await WriteIgnoringResetAsync(raw, junk);
            await ReadUntilClosedAsync(raw);
        }

        await AssertRelayServesAsync(Guid.NewGuid().ToString("N"));
    }

    [Fact]
    public async Task Should_keep_relaying_after_garbage_frames_on_an_upgraded_socket()
    {
        using (var raw = await ConnectRawAsync())
        {
            var handshake = $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{Node.HttpPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
            await raw.GetStream().WriteAsync(Encoding.ASCII.GetBytes(handshake));
            var head = await ReadResponseHeadAsync(raw);
            Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);

            // Unmasked frames with reserved opcodes and bits: a protocol error the server must survive.
            var junk = new byte[16 * 1024];
            new Random(2).NextBytes(junk);
            await WriteIgnoringResetAsync(raw, junk);
            await ReadUntilClosedAsync(raw);
        }

        await AssertRelayServesAsync(Guid.NewGuid().ToString("N"));
    }

    [Fact]
    public async Task Should_keep_relaying_while_sockets_hold_half_an_HTTP_request()
    {
        var halfOpen = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var raw = await ConnectRawAsync();
                halfOpen.Add(raw);
                await raw.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: 127.0.0.1:{Node.HttpPort}\r\nUpgrade: webs"));
            }

            await AssertRelayServesAsync(Guid.NewGuid().ToString("N"));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            using var response = await http.GetAsync(Node.HttpUrl);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            foreach (var raw in halfOpen)
            {
                raw.Dispose();
            }
        }
    }

    private async Task AssertRelayServesAsync(string run)
    {
        var clients = await Node.ConnectAtLiveEdgeAsync(2);
        try
        {
            await clients[0].SendTextAsync($"{run}:alive");
            Assert.Equal($"{run}:alive", (await clients[1].ReceiveAsync()).Text);
            await clients[1].SendBinaryAsync([1, 2, 3]);
            Assert.Equal([1, 2, 3], (await clients[0].ReceiveAsync()).Payload);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    private async Task<TcpClient> ConnectRawAsync()
    {
        var raw = new TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, Node.HttpPort);
        return raw;
    }

    private static async Task WriteIgnoringResetAsync(TcpClient raw, byte[] bytes)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await raw.GetStream().WriteAsync(bytes, cts.Token);
        }
        catch (IOException)
        {
            // The server may hang up before it has read all of it.
        }
    }

    private static async Task<string> ReadResponseHeadAsync(TcpClient raw)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 8192)
        {
            if (await raw.GetStream().ReadAsync(one, cts.Token) == 0)
            {
                break;
            }

            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    /// <summary>Reads (and drops) until the server hangs up; fails if it keeps the socket open.</summary>
    private static async Task ReadUntilClosedAsync(TcpClient raw)
    {
        var buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        long total = 0;
        try
        {
            int read;
            while ((read = await raw.GetStream().ReadAsync(buffer, cts.Token)) > 0)
            {
                total += read;
                Assert.True(total < 512L * 1024 * 1024, "the server kept sending without closing");
            }
        }
        catch (IOException)
        {
            // A reset is a hang-up too.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("the server kept a socket that sent garbage open for 20 s");
        }
    }
}
