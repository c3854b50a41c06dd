using System.Security.Cryptography;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// The relay's promises across nodes of one running three-node cluster: clients on different nodes, one
/// total order, no echo, late joiners, large patches, a node joining. The tests share the cluster and its
/// journal, so each one reads the history's length first and only looks at its own patches.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterRelaySpecs : IClassFixture<ThreeNodeCluster>
{
    private readonly RelayCluster _cluster;
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the shared cluster.</summary>
    public ClusterRelaySpecs(ThreeNodeCluster fixture, ITestOutputHelper output)
    {
        _cluster = fixture.Cluster;
        _postgres = fixture.Postgres;
        _output = output;
    }

    [Fact]
    public void Should_run_exactly_one_sequencer_on_the_oldest_node()
    {
        var hosts = _cluster.HistoryHosts;

        Assert.True(hosts.Count == 1, $"sequencer hosts: [{string.Join(", ", hosts.Select(node => node.Name))}]\n{_cluster.Output}");
        Assert.Same(_cluster[0], hosts[0]);
    }

    [Fact]
    public async Task Should_relay_across_nodes_in_one_total_order_without_echo()
    {
        const int perClient = 40;
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        var clients = await Task.WhenAll(_cluster.Nodes.Select(node => RelayClient.ConnectAsync(node.WebSocketUrl)));
        try
        {
            var histories = await Task.WhenAll(clients.Select(client => client.ReceiveManyAsync((int)before)));

            // Every client sends at once, so the sequencer interleaves three nodes' patches.
            await Task.WhenAll(clients.Select((client, c) => Task.Run(async () =>
            {
                for (var i = 0; i < perClient; i++)
                {
                    await client.SendTextAsync($"order-{c}:{i}");
                }
            })));
            var received = await Task.WhenAll(clients.Select(client => client.ReceiveManyAsync(2 * perClient)));
            var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
            var order = (await Probe.ReadHistoryAsync(_cluster[1], total)).Skip((int)before).ToList();

            Assert.Equal(before + 3 * perClient, total);
            for (var c = 0; c < clients.Length; c++)
            {
                var texts = received[c].Select(message => message.Text).ToList();
                Assert.DoesNotContain(texts, text => text.StartsWith($"order-{c}:", StringComparison.Ordinal));
                Assert.Equal(order.Where(text => !text.StartsWith($"order-{c}:", StringComparison.Ordinal)), texts);
                Assert.Null(await clients[c].ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
            }

            for (var c = 0; c < clients.Length; c++)
            {
                Assert.Equal(Enumerable.Range(0, perClient).Select(i => $"order-{c}:{i}"), Probe.Tagged(order, $"order-{c}"));
            }

            _output.WriteLine($"{3 * perClient} patches from three nodes, one order on every node; history before: {histories[0].Count}");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Should_give_a_late_joiner_on_another_node_the_full_history_then_live_patches()
    {
        await using var sender = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        _ = await sender.ReceiveManyAsync((int)before);
        for (var i = 0; i < 30; i++)
        {
            await sender.SendTextAsync($"late:{i}");
        }

        var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        await using var late = await RelayClient.ConnectAsync(_cluster[2].WebSocketUrl);
        var history = (await late.ReceiveManyAsync((int)total)).Select(message => message.Text).ToList();
        await sender.SendTextAsync("late:live");
        var live = await late.ReceiveAsync();

        Assert.Equal(before + 30, total);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"late:{i}"), history.Skip((int)before));
        Assert.Equal("late:live", live.Text);
        Assert.Null(await late.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Should_carry_a_patch_of_the_maximum_size_across_nodes()
    {
        var patch = RandomNumberGenerator.GetBytes(1024 * 1024);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        await using var sender = await RelayClient.ConnectAsync(_cluster[1].WebSocketUrl);
        await using var receiver = await RelayClient.ConnectAsync(_cluster[2].WebSocketUrl);
        _ = await sender.ReceiveManyAsync((int)before);
        _ = await receiver.ReceiveManyAsync((int)before);

        await sender.SendBinaryAsync(patch);
        var live = await receiver.ReceiveAsync(TimeSpan.FromSeconds(20));
        await using var late = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var history = await late.ReceiveManyAsync((int)before + 1, TimeSpan.FromSeconds(30));

        Assert.False(live.IsText);
        Assert.Equal(patch, live.Payload);
        Assert.False(history[^1].IsText);
        Assert.Equal(patch, history[^1].Payload);
    }

    [Fact]
    public async Task Should_serve_a_node_that_joins_while_patches_flow_from_its_first_upgrade()
    {
        await using var sender = await RelayClient.ConnectAsync(_cluster[0].WebSocketUrl);
        var before = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        _ = await sender.ReceiveManyAsync((int)before);
        await using var node4 = RelayNode.Postgres("node4", _cluster.ConnectionString, _cluster.SeedNodes);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var sending = Probe.SendSteadilyAsync(sender, "join", TimeSpan.FromMilliseconds(50), 1200, stop.Token);

        await node4.StartAsync();
        await using var joined = await RelayClient.ConnectAsync(node4.WebSocketUrl);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        var sent = await sending;
        var history = await joined.ReceiveManyAsync((int)before + sent.Count, TimeSpan.FromSeconds(30));
        var (exitCode, _) = await node4.TerminateAsync();

        Assert.Equal(sent, Probe.Tagged(history.Select(message => message.Text), "join"));
        Assert.Null(await joined.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
        Assert.DoesNotContain(RelayCluster.HistoryRecoveredLogLine, node4.Output, StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
        _output.WriteLine($"node4 joined while {sent.Count} patches were sent; journal on {_postgres.Port}");
    }
}
