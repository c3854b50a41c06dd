using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary><c>relay_documents_open</c> and <c>relay_sequencers</c> follow the documents a node serves.</summary>
public sealed class DocumentMetricsSpecs : IClassFixture<SmallLimitsNode>
{
    private static readonly TimeSpan MetricsWait = TimeSpan.FromSeconds(15);
    private readonly RelayNode _node;

    /// <summary>Uses a node of its own, so that only this class opens documents on it.</summary>
    public DocumentMetricsSpecs(SmallLimitsNode fixture) => _node = fixture.Node;

    [Fact]
    public async Task Should_count_the_documents_open_on_the_node_and_the_sequencers_it_runs()
    {
        Assert.True(await GaugesAreAsync(open: 1, sequencers: 1), "a fresh node: only the default document");

        await using var m1 = await RelayClient.ConnectAsync(_node.WebSocketUrlOf("metrics/one"));
        await using var m1Peer = await RelayClient.ConnectAsync(_node.WebSocketUrlOf("metrics/one"));
        var m2 = await RelayClient.ConnectAsync(_node.WebSocketUrlOf("metrics/two"));
        try
        {
            await m1.SendTextAsync("one");
            Assert.Equal("one", (await m1Peer.ReceiveAsync()).Text);
            Assert.True(await GaugesAreAsync(open: 3, sequencers: 3), "two documents opened");

            await m2.CloseAsync();
            // The sequencer of /metrics/two passivates only after Relay:Documents:PassivateAfter (2 minutes).
            Assert.True(await GaugesAreAsync(open: 2, sequencers: 3), "the last client of /metrics/two left");
        }
        finally
        {
            await m2.DisposeAsync();
        }
    }

    private async Task<bool> GaugesAreAsync(int open, int sequencers)
    {
        Scrape? last = null;
        var reached = await Http.EventuallyAsync(async () =>
        {
            last = await Scrape.TakeAsync(_node);
            return last.Value("relay_documents_open") == open && last.Value("relay_sequencers") == sequencers;
        }, MetricsWait);
        Assert.True(reached, $"expected relay_documents_open {open} and relay_sequencers {sequencers}:\n{last?.Text}");
        return reached;
    }
}
