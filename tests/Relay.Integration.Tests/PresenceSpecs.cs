using System.Globalization;
using System.Net.WebSockets;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>A node with a short presence timeout and small presence limits, so each is cheap to reach.</summary>
public sealed class PresenceNodeFixture : IAsyncLifetime
{
    /// <summary>Relay:Presence:TimeoutSeconds.</summary>
    public const int TimeoutSeconds = 3;

    /// <summary>Relay:Presence:MaxStateBytes.</summary>
    public const int MaxStateBytes = 512;

    /// <summary>Relay:Presence:MaxUpdatesPerSecond.</summary>
    public const int MaxUpdatesPerSecond = 5;

    /// <summary>Relay:Presence:MaxQueuedBytes: a client that does not read loses broadcasts soon.</summary>
    public const int MaxQueuedBytes = 8192;

    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("presence", extra: new Dictionary<string, string>
    {
        ["Relay:Presence:TimeoutSeconds"] = TimeoutSeconds.ToString(CultureInfo.InvariantCulture),
        ["Relay:Presence:MaxStateBytes"] = MaxStateBytes.ToString(CultureInfo.InvariantCulture),
        ["Relay:Presence:MaxUpdatesPerSecond"] = MaxUpdatesPerSecond.ToString(CultureInfo.InvariantCulture),
        ["Relay:Presence:MaxQueuedBytes"] = MaxQueuedBytes.ToString(CultureInfo.InvariantCulture),
    });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>
/// Presence on one node (docs/protocol.md, "Presence and broadcasts"), with real clients over real sockets: the list
/// a joiner gets, updates, every way of leaving (clearing, closing, a socket dropped without a close, silence), a
/// reconnect under the same name, coalescing, the limits' close codes, and raw clients, who see none of it. Each
/// test uses a document of its own.
/// </summary>
public sealed class PresenceSpecs : IClassFixture<PresenceNodeFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(PresenceNodeFixture.TimeoutSeconds);

    // A change is seen well within a second; the machine is loaded, so the bound is generous.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    // A leave comes within the timeout (plus the node's tick); the bound adds room for a loaded machine.
    private static readonly TimeSpan LeaveBound = Timeout + TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PingEvery = TimeSpan.FromMilliseconds(500);
    private readonly RelayNode _node;
    private readonly ITestOutputHelper _output;

    public PresenceSpecs(PresenceNodeFixture fixture, ITestOutputHelper output)
    {
        _node = fixture.Node;
        _output = output;
    }

    [Fact]
    public async Task Should_greet_with_the_presence_limits_and_show_a_joiner_the_list_then_every_change()
    {
        var document = Unique("list");
        await using var anna = (await Connect(document, "client=anna-tab1&user=anna")).KeepAlive(PingEvery);
        var limits = anna.Client.Hello.Header.GetProperty("presence");
        Assert.Equal(PresenceNodeFixture.TimeoutSeconds, limits.GetProperty("timeoutSeconds").GetInt32());
        Assert.Equal(PresenceNodeFixture.MaxStateBytes, limits.GetProperty("maxStateBytes").GetInt32());
        Assert.Equal(PresenceNodeFixture.MaxUpdatesPerSecond, limits.GetProperty("maxUpdatesPerSecond").GetInt32());
        Assert.Equal("anna-tab1", anna.Id);

        await anna.SetAsync("{\"name\":\"Anna\",\"cursor\":[3,5]}");
        await using var bob = (await Connect(document, "user=bob")).KeepAlive(PingEvery);
        Assert.Matches("^_[0-9a-f]{16}$", bob.Id);

        // The joiner gets the list right after its hello; anna does not see bob until he sets a state.
        Assert.True(await bob.ListsAsync(Patience, "anna-tab1"), string.Join("\n", bob.Log));
        Assert.Equal(1, bob.PresentFrames);
        Assert.Equal("anna", bob.UserOf("anna-tab1"));
        Assert.Equal(PresenceView.Compact("{\"name\":\"Anna\",\"cursor\":[3,5]}"), bob.StateOf("anna-tab1"));
        Assert.Empty(anna.Ids);

        await bob.SetAsync("{\"name\":\"Bob\"}");
        Assert.True(await anna.ListsAsync(Patience, bob.Id));
        Assert.Equal("bob", anna.UserOf(bob.Id));

        await anna.SetAsync("{\"name\":\"Anna\",\"cursor\":[4,0]}");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(bob.StateOf("anna-tab1") == PresenceView.Compact("{\"name\":\"Anna\",\"cursor\":[4,0]}")), Patience));

        // Nobody is ever told of themselves.
        Assert.DoesNotContain(anna.Log, line => line.EndsWith(" anna-tab1", StringComparison.Ordinal));
        Assert.DoesNotContain(bob.Log, line => line.EndsWith(" " + bob.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_take_a_client_out_when_it_clears_closes_drops_its_socket_or_goes_silent()
    {
        var document = Unique("leave");
        await using var watcher = (await Connect(document, "client=watcher")).KeepAlive(PingEvery);
        var clearing = (await Connect(document, "client=clearing")).KeepAlive(PingEvery);
        var closing = (await Connect(document, "client=closing")).KeepAlive(PingEvery);
        var dropping = (await Connect(document, "client=dropping")).KeepAlive(PingEvery);
        var silent = await Connect(document, "client=silent");
        await using var cleanup = new AsyncDisposables(clearing, closing, dropping, silent);
        foreach (var client in new[] { clearing, closing, dropping, silent })
        {
            await client.SetAsync($"{{\"who\":\"{client.Id}\"}}");
        }

        // The silent one sends nothing after its state (the last frame sent above): it leaves after the timeout, still connected.
        var silentFrom = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await watcher.ListsAsync(Patience, "clearing", "closing", "dropping", "silent"), string.Join("\n", watcher.Log));
        await clearing.ClearAsync();
        Assert.True(await watcher.ListsAsync(LeaveBound, "closing", "dropping", "silent"), string.Join("\n", watcher.Log));

        await closing.Client.Client.CloseAsync();
        Assert.True(await watcher.ListsAsync(LeaveBound, "dropping", "silent"), string.Join("\n", watcher.Log));

        // Gone without a close frame: the TCP connection is torn down under the socket.
        dropping.Client.Client.Socket.Abort();
        Assert.True(await watcher.ListsAsync(LeaveBound, "silent"), string.Join("\n", watcher.Log));

        Assert.True(await watcher.ListsAsync(LeaveBound, []), string.Join("\n", watcher.Log));
        _output.WriteLine($"the silent client left {silentFrom.Elapsed.TotalSeconds:F1} s after its last frame (timeout {PresenceNodeFixture.TimeoutSeconds} s)");
        Assert.True(silentFrom.Elapsed >= Timeout - TimeSpan.FromMilliseconds(500), "the silent client left before its timeout");
        Assert.Equal(WebSocketState.Open, silent.Client.Client.Socket.State);

        // Its next frame brings it back with its last state; one who cleared stays out.
        await silent.PingAsync();
        Assert.True(await watcher.ListsAsync(Patience, "silent"), string.Join("\n", watcher.Log));
        Assert.Equal(PresenceView.Compact("{\"who\":\"silent\"}"), watcher.StateOf("silent"));
    }

    [Fact]
    public async Task Should_let_a_newer_connection_under_a_name_replace_the_older_and_not_lose_its_entry_to_the_older_ones_close()
    {
        var document = Unique("reconnect");
        await using var watcher = (await Connect(document, "client=watcher")).KeepAlive(PingEvery);
        var older = (await Connect(document, "client=tab&user=anna")).KeepAlive(PingEvery);
        await using var olderCleanup = new AsyncDisposables(older);
        await older.SetAsync("{\"v\":\"older\"}");
        Assert.True(await watcher.ListsAsync(Patience, "tab"));

        await using var newer = (await Connect(document, "client=tab&user=anna")).KeepAlive(PingEvery);
        await newer.SetAsync("{\"v\":\"newer\"}");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(watcher.StateOf("tab") == PresenceView.Compact("{\"v\":\"newer\"}")), Patience));

        await older.Client.Client.CloseAsync();
        // A positive marker after the older one's close: a change of the newer one's arrives, and the entry is still there.
        await newer.SetAsync("{\"v\":\"after\"}");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(watcher.StateOf("tab") == PresenceView.Compact("{\"v\":\"after\"}")), Patience));
        Assert.Equal(["tab"], watcher.Ids);
        Assert.Equal(0, watcher.Events.GetValueOrDefault("left"));
        Assert.Equal(1, watcher.Events.GetValueOrDefault("joined"));
    }

    [Fact]
    public async Task Should_coalesce_a_burst_of_updates_into_fewer_events_that_end_with_the_last_state()
    {
        var document = Unique("burst");
        await using var watcher = (await Connect(document, "client=watcher")).KeepAlive(PingEvery);
        await using var mover = (await Connect(document, "client=mover")).KeepAlive(PingEvery);
        for (var i = 1; i <= 100; i++)
        {
            await mover.SetAsync($"{{\"cursor\":{i}}}");
        }

        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(watcher.StateOf("mover") == "{\"cursor\":100}"), Patience), string.Join("\n", watcher.Log));
        var seen = watcher.Events.GetValueOrDefault("joined") + watcher.Events.GetValueOrDefault("updated");
        _output.WriteLine($"100 updates in a burst reached the watcher as {seen} presence events (at most {PresenceNodeFixture.MaxUpdatesPerSecond} a second)");
        Assert.InRange(seen, 2, 50);
    }

    [Theory]
    [InlineData("oversize", 1009, "presence state over 512 bytes")]
    [InlineData("array", 1008, "bad presence state: ")]
    [InlineData("not-json", 1008, "bad presence state: ")]
    [InlineData("binary", 1008, "bad presence state: ")]
    public async Task Should_close_a_client_whose_presence_state_breaks_the_limits(string kind, int code, string reasonStart)
    {
        var document = Unique("limits-" + kind);
        await using var client = await Connect(document, "client=bad");
        switch (kind)
        {
            case "oversize":
                await client.SetAsync("{\"pad\":\"" + new string('x', PresenceNodeFixture.MaxStateBytes) + "\"}");
                break;
            case "array":
                await client.SetAsync("[1,2,3]");
                break;
            case "not-json":
                await client.SetAsync("{\"open\":");
                break;
            default:
                await client.Client.Client.SendAsync("{\"type\":\"presence\"}\n{}"u8.ToArray(), WebSocketMessageType.Binary);
                break;
        }

        var (status, reason) = await client.Client.Client.Closed.WaitAsync(Patience);
        Assert.Equal(code, (int?)status);
        Assert.StartsWith(reasonStart, reason);
    }

    [Fact]
    public async Task Should_show_raw_clients_nothing_of_presence()
    {
        var document = Unique("raw");
        await using var raw = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        await using var present = (await Connect(document, "client=present")).KeepAlive(PingEvery);
        await present.SetAsync("{\"here\":true}");
        await using var watcher = await Connect(document, "client=watcher");
        Assert.True(await watcher.ListsAsync(Patience, "present"));

        // A broadcast too, which the watcher gets: raw clients get none of it.
        await present.SendAsync("{\"type\":\"broadcast\"}\n{\"cursor\":1}");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(watcher.Others.Any(frame => frame.Type == "broadcast")), Patience));

        // The marker: a patch sent after the presence reaches the raw client as its first frame, byte for byte.
        await present.Client.SendTextAsync(1, "[\"marker\"]");
        var first = await raw.ReceiveAsync(Patience);
        Assert.Equal("[\"marker\"]", first.Text);
        Assert.Equal(0, raw.Pending);
    }

    [Fact]
    public async Task Should_relay_broadcasts_to_the_others_in_the_senders_order_never_back_to_it_and_never_into_the_journal()
    {
        var document = Unique("broadcast");
        await using var anna = await Connect(document, "client=anna&user=anna");
        await using var bob = await Connect(document, "client=bob&user=bob");
        await using var carol = await Connect(document, "client=carol");
        const int count = 30;
        for (var i = 1; i <= count; i++)
        {
            await anna.SendAsync($"{{\"type\":\"broadcast\"}}\n{{\"n\":{i}}}");
        }

        await anna.Client.Client.SendAsync([.. "{\"type\":\"broadcast\"}\n"u8, 0, 255], WebSocketMessageType.Binary);
        foreach (var receiver in new[] { bob, carol })
        {
            Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Broadcasts(receiver).Count == count + 1), Patience), $"{Broadcasts(receiver).Count} broadcasts");
            var got = Broadcasts(receiver);
            Assert.All(got, frame => Assert.Equal(("anna", "anna"), (frame.Header.GetProperty("client").GetString(), frame.Header.GetProperty("user").GetString())));
            Assert.Equal(Enumerable.Range(1, count).Select(i => $"{{\"n\":{i}}}"), got.Take(count).Select(frame => frame.Text));
            Assert.True(got.Take(count).All(frame => frame.IsText));
            Assert.False(got[count].IsText);
            Assert.Equal(new byte[] { 0, 255 }, got[count].Payload);
        }

        // The marker for "never back to the sender": bob's broadcast after hers is the first anna gets.
        await bob.SendAsync("{\"type\":\"broadcast\"}\nfrom bob");
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Broadcasts(anna).Count > 0), Patience));
        Assert.Equal("from bob", Assert.Single(Broadcasts(anna)).Text);

        // Nothing of it is journaled or numbered.
        var status = await _node.StatusAsync(document);
        Assert.Equal(0, status.GetProperty("lastSequence").GetInt64());
    }

    [Fact]
    public async Task Should_drop_broadcasts_for_a_client_that_does_not_read_but_keep_its_patches_and_not_close_it()
    {
        var document = Unique("slow");
        var url = new Uri(_node.WebSocketUrlOf(document) + "?client=slow");
        await using var slow = await RelayClient.ConnectAsync(url, read: false, receiveBufferBytes: 4096, configure: options => options.AddSubProtocol("relay.v1"));
        await using var sender = await Connect(document, "client=sender");

        // The slow client can send without reading: once the sender lists it, its connection is in the document's presence.
        await slow.SendTextAsync("{\"type\":\"presence\"}\n{\"slow\":true}");
        Assert.True(await sender.ListsAsync(Patience, "slow"), string.Join("\n", sender.Log));

        const int broadcasts = 400;
        const int patches = 40;
        var payload = "{\"pad\":\"" + new string('x', 2000) + "\"}";
        for (var i = 1; i <= broadcasts; i++)
        {
            await sender.SendAsync("{\"type\":\"broadcast\"}\n" + payload);
            if (i % (broadcasts / patches) == 0)
            {
                await sender.Client.SendTextAsync(i / (broadcasts / patches), $"[{i}]");
            }
        }

        // Every patch is journaled (the sender's acks), and the slow client is still connected, not closed as a slow consumer.
        Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(sender.Others.Count(frame => frame.Type == "ack") == patches), Patience));
        Assert.False(slow.Closed.IsCompleted);

        slow.StartReading();
        var seqs = new List<long>();
        var gotBroadcasts = 0;
        while (seqs.Count < patches)
        {
            var frame = V1Frame.Parse(await slow.ReceiveAsync(Patience));
            switch (frame.Type)
            {
                case "patch":
                    seqs.Add(frame.Seq);
                    break;
                case "broadcast":
                    gotBroadcasts++;
                    break;
            }
        }

        _output.WriteLine($"the client that did not read got {gotBroadcasts} of {broadcasts} broadcasts and all {patches} patches");
        Assert.Equal(Enumerable.Range(1, patches).Select(i => (long)i), seqs);
        Assert.InRange(gotBroadcasts, 0, broadcasts - 1);
        Assert.Equal(WebSocketState.Open, slow.Socket.State);

        // The node counts what it dropped, and the slow client among its present ones.
        Assert.True(await MetricAsync("relay_ephemeral_dropped_total") >= broadcasts - gotBroadcasts);
        Assert.True(await MetricAsync("relay_ephemeral_relayed_total") >= gotBroadcasts);
        Assert.True(await MetricAsync("relay_presence_clients") >= 1);
    }

    [Fact]
    public async Task Should_send_a_present_list_to_a_client_whose_presence_frames_it_dropped_once_it_reads_again_so_its_list_ends_right()
    {
        var document = Unique("resync");
        var stalled = await RelayClient.ConnectAsync(
            new Uri(_node.WebSocketUrlOf(document) + "?client=stalled"), read: false, receiveBufferBytes: 4096, configure: options => options.AddSubProtocol("relay.v1"));
        PresenceView? view = null;
        try
        {
            await using var sender = (await Connect(document, "client=sender&user=sender")).KeepAlive(PingEvery);
            await sender.SetAsync("{\"v\":1}");

            // The stalled client can send without reading: once the sender lists it, it is one of the document's
            // receivers. It then clears its state, so that its silence from here on changes no list.
            await stalled.SendTextAsync("{\"type\":\"presence\"}\n{\"stalled\":true}");
            Assert.True(await sender.ListsAsync(Patience, "stalled"), string.Join("\n", sender.Log));
            await stalled.SendTextAsync("{\"type\":\"presence\"}\n");
            Assert.True(await sender.ListsAsync(Patience), string.Join("\n", sender.Log));

            // Its writer stuck for good: more patches than the kernel's socket buffers can take, so some wait in its
            // (patch) queue, journaled (the sender's acks). Then its ephemeral lane fills up: broadcasts, then small
            // ones until what room is left is smaller than any presence frame.
            var patch = "[\"" + new string('p', 256 * 1024) + "\"]";
            var patches = (int)((KernelSendBufferMaxBytes() + 2 * 1024 * 1024) / patch.Length) + 1;
            for (var i = 1; i <= patches; i++)
            {
                await sender.Client.SendTextAsync(i, patch);
            }

            Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(sender.Others.Count(frame => frame.Type == "ack") == patches), Patience));
            var payload = "{\"pad\":\"" + new string('x', 2000) + "\"}";
            for (var i = 0; i < 2 * PresenceNodeFixture.MaxQueuedBytes / payload.Length; i++)
            {
                await sender.SendAsync("{\"type\":\"broadcast\"}\n" + payload);
            }

            for (var i = 0; i < 300; i++)
            {
                await sender.SendAsync("{\"type\":\"broadcast\"}\nx");
            }

            // Changes it cannot be told of now: one joins, one comes and goes, one updates. The sender's list shows
            // the node has them all.
            await using var anna = (await Connect(document, "client=anna&user=anna")).KeepAlive(PingEvery);
            await anna.SetAsync("{\"name\":\"Anna\"}");
            await using (var bob = await Connect(document, "client=bob&user=bob"))
            {
                await bob.SetAsync("{\"name\":\"Bob\"}");
                Assert.True(await sender.ListsAsync(Patience, "anna", "bob"), string.Join("\n", sender.Log));
                await bob.ClearAsync();
            }

            await sender.SetAsync("{\"v\":2}");
            Assert.True(await anna.ListsAsync(Patience, "sender") && await sender.ListsAsync(Patience, "anna"), string.Join("\n", sender.Log));
            Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(anna.StateOf("sender") == PresenceView.Compact("{\"v\":2}")), Patience));
            Assert.False(stalled.Closed.IsCompleted);

            // It reads again: what its lane held, then, once there is room, the whole list in a present frame.
            view = PresenceView.Of(await RelayV1Client.OverAsync(stalled));
            PresenceView[] everyone = [sender, anna, view];
            Assert.True(
                await Eventually.HoldsAsync(() => Task.FromResult(view.PresentFrames >= 1 && view.ListsExactly(everyone)), Patience),
                $"present frames: {view.PresentFrames}, broadcasts {Broadcasts(view).Count}; {PresenceView.Describe([view])}\n{string.Join("\n", view.Log)}");

            // And it stays right: a broadcast sent after it arrives after it, with the list unchanged.
            await sender.SendAsync("{\"type\":\"broadcast\"}\nmarker");
            Assert.True(await Eventually.HoldsAsync(() => Task.FromResult(Broadcasts(view).Any(frame => frame.Text == "marker")), Patience));
            Assert.True(view.ListsExactly(everyone), PresenceView.Describe([view]));
            Assert.Equal(WebSocketState.Open, stalled.Socket.State);
            Assert.Equal(patches, view.Others.Count(frame => frame.Type == "patch"));
            _output.WriteLine($"the stalled client got {patches} patches, {Broadcasts(view).Count} broadcasts and its list: {string.Join(" | ", view.Log)}");
        }
        finally
        {
            await (view?.DisposeAsync() ?? stalled.DisposeAsync());
        }
    }

    /// <summary>The most a socket's kernel send buffer grows to here (tcp_wmem's maximum), so a writer past it must wait.</summary>
    private static long KernelSendBufferMaxBytes()
    {
        const string wmem = "/proc/sys/net/ipv4/tcp_wmem";
        return File.Exists(wmem) ? long.Parse(File.ReadAllText(wmem).Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[2], CultureInfo.InvariantCulture) : 4 * 1024 * 1024;
    }

    [Fact]
    public async Task Should_refuse_presence_frames_with_a_clear_close_on_a_node_with_presence_off_and_change_nothing_else()
    {
        await using var node = RelayNode.Sqlite("presence-off", extra: new Dictionary<string, string> { ["Relay:Presence:Enabled"] = "false" });
        await node.StartAsync();
        var url = new Uri(node.WebSocketUrlOf("presence-off") + "?client=a");
        await using var writer = await RelayV1Client.ConnectAsync(url);
        await using var reader = await RelayV1Client.ConnectAsync(new Uri(node.WebSocketUrlOf("presence-off") + "?client=b"));

        // No presence in the hello; patches, acks and sequence numbers as ever.
        Assert.False(writer.Hello.Header.TryGetProperty("presence", out _));
        Assert.False(writer.Hello.Header.TryGetProperty("client", out _));
        await writer.SendTextAsync(1, "[1]");
        Assert.Equal((1L, "[1]"), (await reader.ReceiveAsync(Patience)) is var patch ? (patch.Seq, patch.Text) : default);
        Assert.Equal("ack", (await writer.ReceiveAsync(Patience)).Type);

        await reader.Client.SendAsync("{\"type\":\"ping\"}"u8.ToArray(), WebSocketMessageType.Text);
        var (status, reason) = await reader.Client.Closed.WaitAsync(Patience);
        Assert.Equal((1008, "presence is off on this server"), ((int?)status, reason));
    }

    [Fact]
    public async Task Should_count_broadcasts_and_pings_against_the_connections_message_rate()
    {
        await using var node = RelayNode.Sqlite("presence-rate", extra: new Dictionary<string, string> { ["Relay:MaxMessagesPerSecond"] = "10" });
        await node.StartAsync();
        await using var client = await PresenceView.ConnectAsync(new Uri(node.WebSocketUrlOf("presence-rate") + "?client=fast"));

        // Far more than ten a second, none of them a patch: the bucket empties and the client is closed as over its rate.
        for (var i = 0; i < 100 && !client.Client.Client.Closed.IsCompleted; i++)
        {
            try
            {
                await client.SendAsync(i % 2 == 0 ? "{\"type\":\"broadcast\"}\nx" : "{\"type\":\"ping\"}");
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        var (status, reason) = await client.Client.Client.Closed.WaitAsync(Patience);
        Assert.Equal((1008, "message rate limit exceeded"), ((int?)status, reason));
    }

    private async Task<double> MetricAsync(string name)
    {
        using var http = new HttpClient { Timeout = Patience };
        var text = await http.GetStringAsync(new Uri(_node.HttpUrl, "/metrics"));
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no {name} in /metrics");
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    private static List<V1Frame> Broadcasts(PresenceView view) => view.Others.Where(frame => frame.Type == "broadcast").ToList();

    private async Task<PresenceView> Connect(string document, string query) =>
        await PresenceView.ConnectAsync(new Uri(_node.WebSocketUrlOf(document) + "?" + query));

    private static string Unique(string name) => $"presence-{name}-{Guid.NewGuid():N}"[..40];

    private sealed class AsyncDisposables(params IAsyncDisposable[] items) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var item in items)
            {
                await item.DisposeAsync();
            }
        }
    }
}
