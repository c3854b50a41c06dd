using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>A node with small limits, so oversized messages and slow consumers are cheap to provoke.</summary>
public sealed class SmallLimitsNodeFixture : IAsyncLifetime
{
    /// <summary>Relay:MaxMessageBytes of the node.</summary>
    public const int MaxMessageBytes = 64 * 1024;

    /// <summary>Relay:MaxOutboundBytesPerConnection of the node.</summary>
    public const int MaxOutboundBytes = 256 * 1024;

    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("limits", extra: new Dictionary<string, string>
    {
        ["Relay:MaxMessageBytes"] = MaxMessageBytes.ToString(CultureInfo.InvariantCulture),
        ["Relay:MaxOutboundBytesPerConnection"] = MaxOutboundBytes.ToString(CultureInfo.InvariantCulture),
    });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>Input the relay must refuse, with the right close code and without journaling or relaying it.</summary>
public sealed class BadInputSpecs : IClassFixture<SmallLimitsNodeFixture>
{
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(15);
    private readonly RelayNode _node;
    private readonly ITestOutputHelper _output;

    public BadInputSpecs(SmallLimitsNodeFixture fixture, ITestOutputHelper output)
    {
        _node = fixture.Node;
        _output = output;
    }

    public static TheoryData<string> InvalidUtf8 => new()
    {
        "68 C3 28",       // a two-byte sequence with a bad continuation byte
        "E2 82",          // a sequence cut off at the end of the message
        "ED A0 80",       // a UTF-16 surrogate, which UTF-8 must not encode
        "C0 AF",          // an overlong encoding of '/'
        "F4 90 80 80",    // beyond U+10FFFF
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public async Task Should_close_with_1007_on_invalid_UTF8_and_neither_journal_nor_relay_it(string hex)
    {
        var bad = Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));
        var run = Guid.NewGuid().ToString("N");
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        var (sender, watcher) = (clients[0], clients[1]);
        try
        {
            await sender.SendTextAsync($"{run}:before");
            Assert.Equal($"{run}:before", (await watcher.ReceiveAsync()).Text);

            await sender.SendAsync(bad, WebSocketMessageType.Text);

            var (status, _) = await sender.Closed.WaitAsync(CloseWait);
            Assert.Equal(WebSocketCloseStatus.InvalidPayloadData, status);
            await AssertNotRelayedNorJournaledAsync(watcher, run, bad);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_close_with_1007_on_invalid_UTF8_sent_while_a_long_history_is_still_arriving()
    {
        // The writer holds frames back while more are queued and sends them in one write; the 1007 the runtime
        // writes itself when it meets the bad frame must not stay held once the writer stops.
        const int patches = 400;
        var url = _node.WebSocketUrlOf("utf8-under-history-" + Guid.NewGuid().ToString("N"));
        var patch = new byte[16 * 1024];
        await using (var writer = await RelayClient.ConnectAsync(url))
        await using (var watcher = await RelayClient.ConnectAsync(url))
        {
            // One at a time (the node's outbound budget is 256 KiB), each seen by another client, so journaled:
            // every joiner now starts with 6.4 MB of history.
            for (var i = 0; i < patches; i++)
            {
                await writer.SendBinaryAsync(patch);
                await watcher.ReceiveAsync();
            }
        }

        await using var joiner = await RelayClient.ConnectAsync(url);
        await joiner.ReceiveAsync();
        await joiner.SendAsync([0xC3, 0x28], WebSocketMessageType.Text);

        var (status, description) = await joiner.Closed.WaitAsync(CloseWait);
        Assert.True(status == WebSocketCloseStatus.InvalidPayloadData, $"closed with {status} ({description})");
    }

    [Fact]
    public async Task Should_relay_a_text_message_whose_fragments_split_a_character()
    {
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        try
        {
            var euro = Encoding.UTF8.GetBytes("€uro"); // E2 82 AC ...
            await clients[0].Socket.SendAsync(euro.AsMemory(0, 2), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
            await clients[0].Socket.SendAsync(euro.AsMemory(2), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);

            var message = await clients[1].ReceiveAsync();
            Assert.True(message.IsText);
            Assert.Equal("€uro", message.Text);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    public async Task Should_close_with_1009_on_a_message_over_the_limit_and_relay_nothing_of_it(int fragments)
    {
        var run = Guid.NewGuid().ToString("N");
        var atLimit = Encoding.UTF8.GetBytes(run + ":" + new string('a', SmallLimitsNodeFixture.MaxMessageBytes - run.Length - 1));
        var tooBig = new byte[SmallLimitsNodeFixture.MaxMessageBytes + 1];
        new Random(7).NextBytes(tooBig);
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        var (sender, watcher) = (clients[0], clients[1]);
        try
        {
            // Exactly at the limit is allowed.
            await sender.SendAsync(atLimit, WebSocketMessageType.Text);
            Assert.Equal(atLimit, (await watcher.ReceiveAsync()).Payload);

            var step = (tooBig.Length + fragments - 1) / fragments;
            try
            {
                for (var offset = 0; offset < tooBig.Length; offset += step)
                {
                    var count = Math.Min(step, tooBig.Length - offset);
                    await sender.Socket.SendAsync(
                        tooBig.AsMemory(offset, count),
                        WebSocketMessageType.Binary,
                        endOfMessage: offset + count == tooBig.Length,
                        CancellationToken.None);
                }
            }
            catch (WebSocketException)
            {
                // The server may close before the last fragment is out.
            }

            var (status, _) = await sender.Closed.WaitAsync(CloseWait);
            Assert.Equal(WebSocketCloseStatus.MessageTooBig, status);
            await AssertNotRelayedNorJournaledAsync(watcher, run + ":x", tooBig);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    [Fact]
    public async Task Should_close_a_client_that_stops_reading_with_1008_while_others_keep_receiving()
    {
        const int patchBytes = 16 * 1024;
        const int window = 4;
        const int maxPatches = 2000; // 32 MB at most, far beyond the 256 KiB the node may hold for one client
        var pid = _node.ProcessId ?? throw new InvalidOperationException("node not running");
        var clients = await _node.ConnectAtLiveEdgeAsync(2);
        var (sender, reader) = (clients[0], clients[1]);
        // A small kernel receive buffer, so the server feels the client stop reading after a few hundred KB.
        await using var stalled = await RelayClient.ConnectAsync(_node.WebSocketUrl, read: false, receiveBufferBytes: 16 * 1024);
        try
        {
            const string slowReaders = "reason=\"slow_reader\"";
            var closedBefore = (await Scrape.TakeAsync(_node)).Value("relay_disconnects_total", slowReaders);
            var rssBefore = ProcessMemory.ResidentBytes(pid);
            var got = new List<Received>();
            var sent = 0;
            var closedForSlowness = false;
            while (sent < maxPatches && !closedForSlowness)
            {
                // The reader gets each small window before the next is sent, while the stalled client reads
                // nothing: nobody waits for it. (A burst larger than the outbound limit would close a reading
                // client too; that is the limit doing its job, not what this test is about.)
                for (var i = 0; i < window; i++)
                {
                    var patch = new byte[patchBytes];
                    BitConverter.TryWriteBytes(patch, sent++);
                    await sender.SendBinaryAsync(patch);
                }

                got.AddRange(await reader.ReceiveManyAsync(window, TimeSpan.FromSeconds(10)));
                closedForSlowness = (await Scrape.TakeAsync(_node)).Value("relay_disconnects_total", slowReaders) > closedBefore;
            }

            Assert.True(closedForSlowness, $"the stalled client was not closed after {sent} patches of {patchBytes} bytes:\n{_node.Output}");
            Assert.Equal(Enumerable.Range(0, sent), got.Select(m => BitConverter.ToInt32(m.Payload)));

            // Reading now, the stalled client finds what its buffers held, then the close frame.
            stalled.StartReading();
            var (status, description) = await stalled.Closed.WaitAsync(CloseWait);
            Assert.True(status == WebSocketCloseStatus.PolicyViolation, $"closed with {status} ({description}) after {stalled.Pending} messages; sent {sent}:\n{_node.Output}");
            Assert.Equal("slow consumer", description);

            // The others go on.
            await sender.SendTextAsync("still here");
            Assert.Equal("still here", (await reader.ReceiveAsync()).Text);
            var rssAfter = ProcessMemory.ResidentBytes(pid);
            _output.WriteLine($"closed after {sent} patches ({sent * patchBytes >> 10} KiB); RSS {rssBefore >> 20} MB -> {rssAfter >> 20} MB");
            Assert.True(
                rssAfter - rssBefore < 192L * 1024 * 1024,
                $"RSS grew from {rssBefore >> 20} MB to {rssAfter >> 20} MB while {sent * patchBytes >> 20} MB were sent");
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }

    private async Task AssertNotRelayedNorJournaledAsync(RelayClient watcher, string run, byte[] bad)
    {
        var end = $"{run}:end";
        await using var marker = await RelayClient.ConnectAsync(_node.WebSocketUrl);
        await marker.SendTextAsync(end);
        Assert.DoesNotContain(await watcher.ReadUntilTextAsync(end), m => m.Payload.AsSpan().SequenceEqual(bad));

        await using var late = await RelayClient.ConnectAsync(_node.WebSocketUrl);
        Assert.DoesNotContain(await late.ReadUntilTextAsync(end), m => m.Payload.AsSpan().SequenceEqual(bad));
    }
}
