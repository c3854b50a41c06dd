using System.Diagnostics;
using System.Globalization;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Presence across three real nodes (docs/cluster.md, "Presence"), in one run on one cluster to keep the suite's
/// time: clients on every node see each other; a node cut off by a network partition takes its client out of the
/// others' lists, downs itself, and once healed its replacement's client joins one consistent list; a SIGKILLed
/// node's client leaves every other list within the stated bound. Each leave is measured and printed.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterPresenceSpecs
{
    private const string Document = "presence";
    private const int TimeoutSeconds = 10;

    // docs/cluster.md, "Presence": a node's clients leave the other lists within the cluster's failure detection
    // (about 4 s to unreachable) or, should that not fire, the entries' expiry (TimeoutSeconds); the bound adds
    // room for a loaded machine.
    private static readonly TimeSpan LeaveBound = TimeSpan.FromSeconds(TimeoutSeconds + 10);
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
    public async Task Should_show_every_nodes_clients_everywhere_and_take_a_cut_off_or_killed_nodes_clients_out_of_every_list()
    {
        await using var partition = await NetworkPartition.CreateAsync();
        await using var cluster = new RelayCluster(
            await _postgres.CreateDatabaseAsync("relay_presence"),
            extra: new Dictionary<string, string> { ["Relay:Presence:TimeoutSeconds"] = TimeoutSeconds.ToString(CultureInfo.InvariantCulture) },
            bootstrap: true);
        foreach (var node in cluster.Nodes)
        {
            partition.Assign(node);
        }

        await cluster.StartAllAtOnceAsync();
        var views = new List<PresenceView>();
        try
        {
            // One present client per node, each named after its node.
            foreach (var node in cluster.Nodes)
            {
                views.Add(await JoinAsync(node, "on-" + node.Name));
            }

            await AssertListsAsync(views, "every node's client on every node");

            // A partition: node3 is cut off from the others' cluster ports.
            var cutOff = cluster[2];
            var majority = cluster.Nodes.Take(2).ToList();
            var clock = Stopwatch.StartNew();
            await partition.IsolateAsync(cutOff, ClusterPorts(cutOff), majority.SelectMany(ClusterPorts).ToList());
            var majorityViews = views.Take(2).ToList();
            Assert.True(await AllListAsync(majorityViews, LeaveBound), Describe(views));
            var cutLeft = clock.Elapsed;
            Assert.True(await Probe.EventuallyAsync(() => !cutOff.IsRunning, TimeSpan.FromSeconds(60)), $"{cutOff.Name} still runs after it was cut off\n{cutOff.Output}");
            await views[2].DisposeAsync();
            views.RemoveAt(2);

            // Healed, the node's replacement starts (as ClusterFaultSpecs does it) and its client joins everyone's list.
            await partition.HealAsync();
            await using var replacement = new RelayNode($"{cutOff.Name}-again", new Dictionary<string, string>(cutOff.Settings), akkaPort: FreePort.Next());
            await replacement.StartAsync(TimeSpan.FromSeconds(90));
            views.Add(await JoinAsync(replacement, "on-" + replacement.Name));
            await AssertListsAsync(views, "one list on every node after the heal");

            // A SIGKILL: node2 and its client are gone without a word.
            var killed = cluster[1];
            clock.Restart();
            await killed.KillAsync();
            var survivors = new[] { views[0], views[2] }.ToList();
            Assert.True(await AllListAsync(survivors, LeaveBound), Describe(views));
            var killLeft = clock.Elapsed;

            _output.WriteLine($"a partitioned node's client left the other lists {cutLeft.TotalSeconds:F1} s after the cut; " +
                              $"a SIGKILLed node's {killLeft.TotalSeconds:F1} s after the kill (Relay:Presence:TimeoutSeconds {TimeoutSeconds})");
        }
        finally
        {
            foreach (var view in views)
            {
                await view.DisposeAsync();
            }
        }
    }

    private static async Task<PresenceView> JoinAsync(RelayNode node, string client)
    {
        var view = (await PresenceView.ConnectAsync(new Uri(node.WebSocketUrlOf(Document) + $"?client={client}&user={client}"))).KeepAlive(PingEvery);
        await view.SetAsync($"{{\"node\":\"{node.Name}\"}}");
        return view;
    }

    /// <summary>Asserts that each view lists exactly the other views' clients.</summary>
    private async Task AssertListsAsync(IReadOnlyList<PresenceView> views, string what)
    {
        var clock = Stopwatch.StartNew();
        Assert.True(await AllListAsync(views, Patience), $"not {what}: {Describe(views)}");
        _output.WriteLine($"{what} within {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Whether, within <paramref name="timeout"/>, each of <paramref name="views"/> lists exactly the others.</summary>
    private static Task<bool> AllListAsync(IReadOnlyList<PresenceView> views, TimeSpan timeout) =>
        Eventually.HoldsAsync(
            () => Task.FromResult(views.All(view => view.Ids.SequenceEqual(views.Where(other => other != view).Select(other => other.Id).Order(StringComparer.Ordinal)))),
            timeout);

    private static string Describe(IEnumerable<PresenceView> views) =>
        string.Join("; ", views.Select(view => $"{view.Id} lists [{string.Join(",", view.Ids)}]"));

    /// <summary>The ports a node talks to the cluster on: Akka.Remote's and Cluster Bootstrap's.</summary>
    private static List<int> ClusterPorts(RelayNode node) => [node.AkkaPort, .. node.ManagementPort is { } management ? [management] : Array.Empty<int>()];
}
