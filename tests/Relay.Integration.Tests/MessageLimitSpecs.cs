using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>A node with short message deadlines, few fragments, a byte rate and fast pings, so each limit is cheap to reach.</summary>
public sealed class MessageLimitsNodeFixture : IAsyncLifetime
{
    /// <summary>Relay:MaxMessageBytes (the default, so the memory bound is checked at the size it is documented for).</summary>
    public const int MaxMessageBytes = 1024 * 1024;

    /// <summary>Relay:MessageTimeoutSeconds.</summary>
    public const int MessageTimeoutSeconds = 3;

    /// <summary>Relay:MaxFragmentsPerMessage.</summary>
    public const int MaxFragments = 64;

    /// <summary>Relay:MaxBytesPerSecond: one largest message per second.</summary>
    public const int MaxBytesPerSecond = MaxMessageBytes;

    /// <summary>Relay:KeepAliveIntervalSeconds.</summary>
    public const int KeepAliveIntervalSeconds = 1;

    /// <summary>Relay:KeepAliveTimeoutSeconds: longer than the message deadline, so a peer stuck mid-frame meets the deadline first.</summary>
    public const int KeepAliveTimeoutSeconds = 4;

    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("message-limits", extra: new Dictionary<string, string>
    {
        ["Relay:MaxMessageBytes"] = MaxMessageBytes.ToString(CultureInfo.InvariantCulture),
        ["Relay:MessageTimeoutSeconds"] = MessageTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
        ["Relay:MaxFragmentsPerMessage"] = MaxFragments.ToString(CultureInfo.InvariantCulture),
        ["Relay:MaxBytesPerSecond"] = MaxBytesPerSecond.ToString(CultureInfo.InvariantCulture),
        ["Relay:KeepAliveIntervalSeconds"] = KeepAliveIntervalSeconds.ToString(CultureInfo.InvariantCulture),
        ["Relay:KeepAliveTimeoutSeconds"] = KeepAliveTimeoutSeconds.ToString(CultureInfo.InvariantCulture),
    });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>A message must end, in time and in few enough frames; a client's bytes per second are bounded; dead peers are dropped.</summary>
public sealed class MessageLimitSpecs : IClassFixture<MessageLimitsNodeFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(MessageLimitsNodeFixture.MessageTimeoutSeconds);

    // The session's close takes up to its 5 s grace on top of a limit; a loaded machine adds a little more.
    private static readonly TimeSpan CloseWait = Deadline + TimeSpan.FromSeconds(10);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly RelayNode _node;
    private readonly ITestOutputHelper _output;

    public MessageLimitSpecs(MessageLimitsNodeFixture fixture, ITestOutputHelper output)
    {
        _node = fixture.Node;
        _output = output;
    }

    [Fact]
    public async Task Should_close_a_message_that_never_ends_with_1008()
    {
        await using var client = await RelayClient.ConnectAsync(_node.WebSocketUrl);
        var clock = Stopwatch.StartNew();
        await client.Socket.SendAsync("{\"op\":"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);

        // Empty continuations, slowly enough that the fragment cap is never what ends it: at most 10 s of them.
        for (var i = 0; i < 100 && !client.Closed.IsCompleted; i++)
        {
            if (!await TrySendAsync(client, [], endOfMessage: false))
            {
                break;
            }

            await Task.WhenAny(client.Closed, Task.Delay(100));
        }

        var (status, description) = await client.Closed.WaitAsync(CloseWait);
        _output.WriteLine($"closed after {clock.Elapsed.TotalSeconds:F1} s with {status} ({description})");
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Equal("message not finished in time", description);
        Assert.InRange(clock.Elapsed, Deadline - TimeSpan.FromMilliseconds(100), CloseWait);
    }

    [Fact]
    public async Task Should_close_a_message_of_too_many_fragments_with_1009_and_relay_nothing_of_it()
    {
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        var (sender, watcher) = (clients[0], clients[1]);
        try
        {
            var marker = "fragments:" + Guid.NewGuid().ToString("N");
            await sender.Socket.SendAsync(Encoding.UTF8.GetBytes(marker), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
            for (var i = 0; i < MessageLimitsNodeFixture.MaxFragments * 4 && !sender.Closed.IsCompleted; i++)
            {
                if (!await TrySendAsync(sender, "x"u8.ToArray(), endOfMessage: false))
                {
                    break;
                }
            }

            var (status, description) = await sender.Closed.WaitAsync(CloseWait);
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
            Assert.Equal($"message of more than {MessageLimitsNodeFixture.MaxFragments} fragments", description);

            await using var beacon = await RelayClient.ConnectAsync(_node.WebSocketUrl);
            var end = marker + ":end";
            await beacon.SendTextAsync(end);
            Assert.DoesNotContain(await watcher.ReadUntilTextAsync(end), m => m.IsText && m.Text.StartsWith(marker, StringComparison.Ordinal));
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_close_a_message_of_one_fragment_more_than_allowed_with_1009()
    {
        await using var client = await RelayClient.ConnectAsync(_node.WebSocketUrl);
        for (var i = 0; i <= MessageLimitsNodeFixture.MaxFragments && !client.Closed.IsCompleted; i++)
        {
            if (!await TrySendAsync(client, "y"u8.ToArray(), endOfMessage: i == MessageLimitsNodeFixture.MaxFragments))
            {
                break;
            }
        }

        var (status, _) = await client.Closed.WaitAsync(CloseWait);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
    }

    [Fact]
    public async Task Should_relay_a_message_of_as_many_fragments_as_allowed()
    {
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        try
        {
            var parts = Enumerable.Range(0, MessageLimitsNodeFixture.MaxFragments).Select(i => $"{i:D3};").ToArray();
            for (var i = 0; i < parts.Length; i++)
            {
                await clients[0].Socket.SendAsync(Encoding.UTF8.GetBytes(parts[i]), WebSocketMessageType.Text, endOfMessage: i == parts.Length - 1, CancellationToken.None);
            }

            Assert.Equal(string.Concat(parts), (await clients[1].ReceiveAsync()).Text);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_close_a_socket_stuck_in_the_middle_of_a_frame_with_1008_after_the_deadline()
    {
        using var raw = await UpgradeRawAsync();
        var clock = Stopwatch.StartNew();

        // A masked binary frame announcing 100,000 bytes, of which only 1,000 ever come.
        var header = new byte[] { 0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x01, 0x86, 0xA0, 0, 0, 0, 0 };
        await raw.GetStream().WriteAsync(header.Concat(new byte[1000]).ToArray());

        var (code, reason) = await ReadUntilCloseFrameAsync(raw.GetStream(), TimeSpan.FromSeconds(20));
        _output.WriteLine($"close frame {code} ({reason}) after {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(1008, code);
        Assert.Equal("message not finished in time", reason);
        Assert.InRange(clock.Elapsed, Deadline - TimeSpan.FromMilliseconds(100), CloseWait);
    }

    [Fact]
    public async Task Should_count_the_bytes_of_an_unfinished_message_against_the_byte_rate_and_close_with_1008()
    {
        await using var client = await RelayClient.ConnectAsync(_node.WebSocketUrl);
        var chunk = new byte[64 * 1024];

        // One whole largest message empties the bucket (one second's worth); the next one is never finished, so
        // only bytes counted as they arrive can put the client over its rate before the message deadline.
        await client.SendBinaryAsync(new byte[MessageLimitsNodeFixture.MaxMessageBytes]);
        var sent = 0;
        while (sent + chunk.Length < MessageLimitsNodeFixture.MaxMessageBytes && !client.Closed.IsCompleted)
        {
            if (!await TrySendAsync(client, chunk, endOfMessage: false, WebSocketMessageType.Binary))
            {
                break;
            }

            sent += chunk.Length;
        }

        var (status, description) = await client.Closed.WaitAsync(CloseWait);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Equal("byte rate limit exceeded", description);
    }

    [Fact]
    public async Task Should_drop_a_peer_that_never_answers_pings_within_interval_plus_timeout()
    {
        using var raw = new TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, _node.HttpPort);
        var stream = raw.GetStream();
        await stream.WriteAsync(Handshake());
        var clock = Stopwatch.StartNew();

        // Reads what the server sends (the history, then pings) and answers nothing, until it hangs up.
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0 && received.Length < 64L * 1024 * 1024)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset is a hang-up too.
        }

        var took = clock.Elapsed;
        Assert.False(cts.IsCancellationRequested, "the server kept a peer that answers no pings for 30 s");
        var bytes = received.ToArray();
        var head = Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 12));
        Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);
        var pings = CountPings(bytes);
        _output.WriteLine($"dropped {took.TotalSeconds:F2} s after the upgrade, having sent {pings} ping(s)");
        Assert.True(pings >= 1, "the server sent no ping");

        // Interval + timeout, plus 1.5 s for the timer's granularity, the session's teardown and a loaded machine.
        var bound = TimeSpan.FromSeconds(MessageLimitsNodeFixture.KeepAliveIntervalSeconds + MessageLimitsNodeFixture.KeepAliveTimeoutSeconds + 1.5);
        Assert.True(took <= bound, $"dropped after {took.TotalSeconds:F2} s, more than {bound.TotalSeconds} s");
    }

    [Fact]
    public async Task Should_hold_no_more_than_the_documented_memory_per_socket_for_a_partial_largest_message_and_close_them_all_after_the_deadline()
    {
        const int sockets = 40;
        const long boundPerSocket = 2L * MessageLimitsNodeFixture.MaxMessageBytes + (64 * 1024); // docs/operations.md
        var pid = _node.ProcessId ?? throw new InvalidOperationException("node not running");
        var partial = new byte[MessageLimitsNodeFixture.MaxMessageBytes - 1];
        new Random(3).NextBytes(partial);

        // At the live edge, so no replay of earlier tests' patches is under way while memory is measured.
        var clients = await _node.ConnectAtLiveEdgeAsync(sockets);
        try
        {
            // Memory of the open sockets themselves is not the point: measure from here.
            var received = await ReceivedBytesAsync();
            var rssBefore = ProcessMemory.ResidentBytes(pid);
            var clock = Stopwatch.StartNew();
            foreach (var client in clients)
            {
                await client.Socket.SendAsync(partial, WebSocketMessageType.Binary, endOfMessage: false, CancellationToken.None);
            }

            // Every partial message has arrived once the node counted its bytes.
            var arrived = false;
            while (!arrived && clock.Elapsed < Deadline)
            {
                arrived = await ReceivedBytesAsync() >= received + ((long)sockets * partial.Length);
                if (!arrived)
                {
                    await Task.Delay(50);
                }
            }

            var rssHolding = ProcessMemory.ResidentBytes(pid);
            var perSocket = (rssHolding - rssBefore) / sockets;
            _output.WriteLine($"{sockets} sockets holding {partial.Length} bytes each: RSS {rssBefore >> 20} MB -> {rssHolding >> 20} MB, {perSocket >> 10} KiB per socket (bound {boundPerSocket >> 10} KiB); arrived after {clock.Elapsed.TotalSeconds:F1} s");
            Assert.True(arrived, "the partial messages did not all arrive before their deadline");
            Assert.True(perSocket <= boundPerSocket, $"{perSocket >> 10} KiB per socket, more than the documented {boundPerSocket >> 10} KiB");

            var closes = await Task.WhenAll(clients.Select(client => client.Closed.WaitAsync(CloseWait)));
            _output.WriteLine($"all closed {clock.Elapsed.TotalSeconds:F1} s after the first partial message was sent");
            Assert.All(closes, close =>
            {
                Assert.Equal(WebSocketCloseStatus.PolicyViolation, close.Status);
                Assert.Equal("message not finished in time", close.Description);
            });
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    private byte[] Handshake() => Encoding.ASCII.GetBytes(
        $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{_node.HttpPort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");

    /// <summary>A raw TCP connection through the WebSocket upgrade, the server's HTTP head read away.</summary>
    private async Task<TcpClient> UpgradeRawAsync()
    {
        var raw = new TcpClient();
        await raw.ConnectAsync(IPAddress.Loopback, _node.HttpPort);
        await raw.GetStream().WriteAsync(Handshake());
        var head = new StringBuilder();
        var one = new byte[1];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await raw.GetStream().ReadAsync(one, cts.Token) == 1)
        {
            head.Append((char)one[0]);
        }

        Assert.StartsWith("HTTP/1.1 101", head.ToString(), StringComparison.Ordinal);
        return raw;
    }

    /// <summary>Reads server frames (history, pings) until a close frame; its code and reason.</summary>
    private static async Task<(int Code, string Reason)> ReadUntilCloseFrameAsync(NetworkStream stream, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var pending = new List<byte>();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(read > 0, "the server hung up without a close frame");
            pending.AddRange(buffer.AsSpan(0, read).ToArray());
            while (TryTakeFrame(pending, out var opcode, out var payload))
            {
                if (opcode == 8)
                {
                    return ((payload[0] << 8) | payload[1], Encoding.UTF8.GetString(payload, 2, payload.Length - 2));
                }
            }
        }
    }

    /// <summary>Takes one complete unmasked server frame off the front of <paramref name="bytes"/>.</summary>
    private static bool TryTakeFrame(List<byte> bytes, out int opcode, out byte[] payload)
    {
        (opcode, payload) = (0, []);
        if (bytes.Count < 2)
        {
            return false;
        }

        var at = 2;
        long length = bytes[1] & 0x7F;
        if (length == 126)
        {
            if (bytes.Count < 4)
            {
                return false;
            }

            length = (bytes[2] << 8) | bytes[3];
            at = 4;
        }
        else if (length == 127)
        {
            if (bytes.Count < 10)
            {
                return false;
            }

            length = 0;
            for (var k = 2; k < 10; k++)
            {
                length = (length << 8) | bytes[k];
            }

            at = 10;
        }

        if (bytes.Count < at + length)
        {
            return false;
        }

        opcode = bytes[0] & 0x0F;
        payload = bytes.GetRange(at, (int)length).ToArray();
        bytes.RemoveRange(0, at + (int)length);
        return true;
    }

    private async Task<long> ReceivedBytesAsync()
    {
        var text = await Http.GetStringAsync(new Uri(_node.HttpUrl, "/metrics"));
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("relay_received_bytes_total", StringComparison.Ordinal));
        return line is null ? 0 : (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>Sends a frame; false when the server has already closed the socket under it.</summary>
    private static async Task<bool> TrySendAsync(RelayClient client, byte[] payload, bool endOfMessage, WebSocketMessageType type = WebSocketMessageType.Text)
    {
        try
        {
            await client.Socket.SendAsync(payload, type, endOfMessage, CancellationToken.None);
            return true;
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Ping frames (opcode 9) among the unmasked server frames after the HTTP head in <paramref name="bytes"/>.</summary>
    private static int CountPings(byte[] bytes)
    {
        var text = Encoding.ASCII.GetString(bytes);
        var at = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (at < 0)
        {
            return 0;
        }

        var pings = 0;
        var i = at + 4;
        while (i + 2 <= bytes.Length)
        {
            var opcode = bytes[i] & 0x0F;
            long length = bytes[i + 1] & 0x7F;
            i += 2;
            if (length == 126 && i + 2 <= bytes.Length)
            {
                length = (bytes[i] << 8) | bytes[i + 1];
                i += 2;
            }
            else if (length == 127 && i + 8 <= bytes.Length)
            {
                length = 0;
                for (var k = 0; k < 8; k++)
                {
                    length = (length << 8) | bytes[i + k];
                }

                i += 8;
            }

            pings += opcode == 9 ? 1 : 0;
            i += (int)length;
        }

        return pings;
    }
}
