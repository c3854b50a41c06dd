using System.Diagnostics;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Presence and broadcasts across three real nodes (docs/cluster.md, "Presence"), in one run on one cluster to keep
/// the suite's time: clients on every node see each other and each other's broadcasts; a SIGKILLed node's client
/// leaves every other list within the stated bound, which is measured and printed.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterPresenceSpecs
{
    private const string Document = "presence";

    // docs/cluster.md, "Presence": a node's clients leave the other lists once the cluster's failure detection marks
    // it unreachable or, should that not fire, at their entries' expiry (Relay:Presence:TimeoutSeconds, 10 s by
    // default); the bound adds room for a loaded machine.
    private static readonly TimeSpan LeaveBound = TimeSpan.FromSeconds(10 + 10);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PingEvery = TimeSpan.FromSeconds(2);
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public ClusterPresenceSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    [Fact]
    public async Task Should_show_every_nodes_clients_and_broadcasts_everywhere_and_take_a_killed_nodes_clients_out_of_every_list()
    {
        await using var cluster = new RelayCluster(await _postgres.CreateDatabaseAsync("relay_presence"));
        await cluster.StartAsync();
        var views = new List<PresenceView>();
        try
        {
            // One present client per node, each named after its node.
            foreach (var node in cluster.Nodes)
            {
                views.Add(await PresenceView.JoinAsync(node, Document, "on-" + node.Name, PingEvery, $"{{\"node\":\"{node.Name}\"}}"));
            }

            await AssertListsAsync(views, "every node's client on every node");

            // A broadcast reaches another node once that node's subscription to the document's presence topic has
            // spread by DistributedPubSub's gossip (about a second after its first client joined, docs/cluster.md,
            // "Presence"): probes go out until every other client got one.
            var reached = false;
            for (var round = 0; round < 20 && !reached; round++)
            {
                await views[0].SendAsync("{\"type\":\"broadcast\"}\nprobe");
                reached = await Eventually.HoldsAsync(() => Task.FromResult(views.Skip(1).All(other => Broadcasts(other).Contains("probe"))), TimeSpan.FromSeconds(1));
            }

            Assert.True(reached, PresenceView.Describe(views));

            // From then on the first node's client's broadcasts reach the clients of the two others, in its order.
            for (var i = 1; i <= 5; i++)
            {
                await views[0].SendAsync($"{{\"type\":\"broadcast\"}}\n{i}");
            }

            foreach (var other in views.Skip(1))
            {
                Assert.True(
                    await Eventually.HoldsAsync(() => Task.FromResult(Broadcasts(other).Where(text => text != "probe").SequenceEqual(["1", "2", "3", "4", "5"])), Patience),
                    $"{other.Id} got [{string.Join(",", Broadcasts(other))}]");
            }

            // A SIGKILL: the last node (not the first seed) and its client are gone without a word.
            var killed = cluster[2];
            var clock = Stopwatch.StartNew();
            await killed.KillAsync();
            var survivors = views.Take(2).ToList();
            Assert.True(await PresenceView.AllListEachOtherAsync(survivors, LeaveBound), PresenceView.Describe(views));
            var left = clock.Elapsed;
            _output.WriteLine($"a SIGKILLed node's client left the other nodes' lists {left.TotalSeconds:F1} s after the kill");
        }
        finally
        {
            foreach (var view in views)
            {
                await view.DisposeAsync();
            }
        }
    }

    private static List<string> Broadcasts(PresenceView view) =>
        view.Others.Where(frame => frame.Type == "broadcast").Select(frame => frame.Text).ToList();

    /// <summary>Asserts that each view lists exactly the other views' clients, with their states.</summary>
    private async Task AssertListsAsync(IReadOnlyList<PresenceView> views, string what)
    {
        var clock = Stopwatch.StartNew();
        Assert.True(await PresenceView.AllListEachOtherAsync(views, Patience), $"not {what}: {PresenceView.Describe(views)}");
        _output.WriteLine($"{what} within {clock.Elapsed.TotalSeconds:F1} s");
    }
}
