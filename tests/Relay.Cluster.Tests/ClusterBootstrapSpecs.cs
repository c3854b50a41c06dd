using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Akka.Cluster;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Cluster Bootstrap as the formation (<c>Relay:Akka:Bootstrap</c>, config discovery, three required contact points) with
/// real Gateway processes on 127.0.0.1 and TLS between them: three form one cluster; the node that formed it, SIGKILLed and
/// restarted, joins the cluster the others kept; a node alone never forms one; a host that matches no contact point stops
/// the node at start. Membership is read from each node's own answer to the bootstrap's probe (<c>/bootstrap/seed-nodes</c>).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterBootstrapSpecs : IClassFixture<ClusterBootstrapSpecs.BootstrappedCluster>
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);
    private readonly BootstrappedCluster _fixture;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the class's bootstrapped cluster.</summary>
    public ClusterBootstrapSpecs(BootstrappedCluster fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        _output = output;
    }

    [Fact]
    public async Task Should_form_one_cluster_of_three_over_tls()
    {
        var cluster = await _fixture.ClusterAsync();
        _output.WriteLine($"three nodes started at once were all ready after {_fixture.FormedIn.TotalSeconds:F1} s");

        var one = await Eventually.HoldsAsync(async () => await OneClusterAsync(cluster) is not null, Settle);
        var view = await cluster[0].SeedNodesAsync();
        await using var onNode1 = await RelayClient.ConnectAsync(cluster[0].WebSocketUrlOf("bootstrap"));
        await using var onNode3 = await RelayClient.ConnectAsync(cluster[2].WebSocketUrlOf("bootstrap"));
        await onNode1.SendTextAsync("formed by bootstrap");
        var relayed = await onNode3.ReceiveAsync(TimeSpan.FromSeconds(20));

        Assert.True(one, $"the nodes do not see one cluster of three Up members: {string.Join(" | ", await ViewsAsync(cluster))}\n{cluster.Output}");
        Assert.All(view.GetProperty("Nodes").EnumerateArray(), node => Assert.Equal("akka.ssl.tcp", node.GetProperty("Node").GetProperty("Protocol").GetString()));
        Assert.Equal("formed by bootstrap", relayed.Text);
    }

    [Fact]
    public async Task Should_take_the_node_that_formed_the_cluster_back_into_it_after_a_sigkill()
    {
        var cluster = await _fixture.ClusterAsync();
        Assert.True(await Eventually.HoldsAsync(async () => await OneClusterAsync(cluster) is not null, Settle), "no single cluster before the kill");
        // The node that formed the cluster is its oldest member, where the sequencer singleton runs.
        var former = await cluster.SingleHistoryHostAsync(timeout: Settle);
        var before = (await OneClusterAsync(cluster))!;

        await former.KillAsync();
        var restart = Stopwatch.StartNew();
        await former.StartAsync(readyTimeout: TimeSpan.FromSeconds(150));
        var readyIn = restart.Elapsed;
        string[]? after = null;
        var one = await Eventually.HoldsAsync(async () => (after = await OneClusterAsync(cluster)) is not null && !after.SequenceEqual(before), Settle);
        _output.WriteLine($"{former.Name} (formed the cluster) SIGKILLed and restarted: ready after {readyIn.TotalSeconds:F1} s, " +
                          $"one cluster again after {restart.Elapsed.TotalSeconds:F1} s: {string.Join(", ", after ?? [])}");

        Assert.True(one, $"no single cluster of three after the restart: {string.Join(" | ", await ViewsAsync(cluster))}\n{cluster.Output}");
        // Same addresses, and the restarted node is in it under its new incarnation.
        Assert.Equal(before.Select(AddressOf), after!.Select(AddressOf));
        Assert.Equal(2, before.Intersect(after!).Count());
    }

    [Fact]
    public async Task Should_form_one_cluster_again_when_all_three_are_killed_and_restarted_at_once()
    {
        var cluster = await _fixture.ClusterAsync();
        Assert.True(await Eventually.HoldsAsync(async () => await OneClusterAsync(cluster) is not null, Settle), "no single cluster before the kills");
        var before = (await OneClusterAsync(cluster))!;

        await Task.WhenAll(cluster.Nodes.Select(node => node.KillAsync()));
        var restart = Stopwatch.StartNew();
        await cluster.StartAllAtOnceAsync(TimeSpan.FromSeconds(150));
        var readyIn = restart.Elapsed;
        string[]? after = null;
        var one = await Eventually.HoldsAsync(async () => (after = await OneClusterAsync(cluster)) is not null, Settle);
        _output.WriteLine($"all three SIGKILLed and restarted at once: ready after {readyIn.TotalSeconds:F1} s, one cluster: {string.Join(", ", after ?? [])}");

        Assert.True(one, $"no single cluster of three after the restart: {string.Join(" | ", await ViewsAsync(cluster))}\n{cluster.Output}");
        Assert.Equal(before.Select(AddressOf), after!.Select(AddressOf));
        Assert.Empty(before.Intersect(after!));
        await cluster.SingleHistoryHostAsync(timeout: Settle);
    }

    [Fact]
    public async Task Should_never_form_a_cluster_alone_while_it_probes_the_other_contact_points()
    {
        using var absent1 = new ProbedContactPoint();
        using var absent2 = new ProbedContactPoint();
        var managementPort = FreePort.Next();
        var settings = RelayCluster.BootstrapSettings([managementPort, absent1.Port, absent2.Port]);
        settings["Relay:Akka:Bootstrap:ManagementPort"] = managementPort.ToString();
        await using var lone = RelayNode.Sqlite("bootstrap-lone", extra: settings);
        lone.Launch();

        // Several probing rounds reach both absent peers (they answer 503, as a node not serving yet would).
        var probed = await Eventually.HoldsAsync(() => Task.FromResult(absent1.Probes >= 3 && absent2.Probes >= 3), Settle);
        var answer = await lone.SeedNodesAsync();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var readyz = await http.GetAsync(new Uri(lone.HttpUrl, "readyz"));
        var status = await lone.StatusAsync();
        _output.WriteLine($"lone node: probes of the absent contact points {absent1.Probes}, {absent2.Probes}; its answer {answer}; /readyz {(int)readyz.StatusCode}; status {status.GetProperty("status")}");

        Assert.True(probed, $"the bootstrap did not probe both other contact points 3 times ({absent1.Probes}, {absent2.Probes})\n{lone.Output}");
        Assert.True(lone.IsRunning, lone.Output);
        Assert.Empty(answer.GetProperty("Nodes").EnumerateArray());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyz.StatusCode);
        Assert.Equal("starting", status.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Should_stop_at_start_when_its_host_matches_no_contact_point_exactly()
    {
        var managementPort = FreePort.Next();
        var settings = RelayCluster.BootstrapSettings([managementPort, FreePort.Next(), FreePort.Next()]);
        settings["Relay:Akka:Bootstrap:ManagementPort"] = managementPort.ToString();
        // The same machine by another name: the bootstrap would never see itself among the contact points.
        settings["Relay:Akka:Bootstrap:ManagementHostname"] = "localhost";
        await using var node = RelayNode.Sqlite("bootstrap-mismatch", extra: settings);
        node.Launch();

        var exited = await Eventually.HoldsAsync(() => Task.FromResult(!node.IsRunning), TimeSpan.FromSeconds(60));

        Assert.True(exited, $"the node still runs\n{node.Output}");
        Assert.NotEqual(0, node.ExitCode);
        Assert.Contains("localhost:" + managementPort, node.Output, StringComparison.Ordinal);
        Assert.Contains("must match exactly", node.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// The member list every running node answers, when they all answer the same three Up members (as
    /// <c>address#uid</c>, sorted); null otherwise.
    /// </summary>
    private static async Task<string[]?> OneClusterAsync(RelayCluster cluster)
    {
        var views = await ViewsAsync(cluster);
        return views.Length == cluster.Nodes.Count && views.All(view => view is not null && view.Length == 3 && view.SequenceEqual(views[0]!))
            ? views[0]
            : null;
    }

    private static async Task<string[]?[]> ViewsAsync(RelayCluster cluster) =>
        await Task.WhenAll(cluster.Nodes.Select(async node =>
        {
            try
            {
                var nodes = (await node.SeedNodesAsync()).GetProperty("Nodes").EnumerateArray().ToList();
                return nodes.All(entry => entry.GetProperty("Status").GetInt32() == (int)MemberStatus.Up)
                    ? nodes.Select(Describe).Order(StringComparer.Ordinal).ToArray()
                    : null;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
            {
                return null;
            }
        }));

    private static string Describe(JsonElement entry)
    {
        var node = entry.GetProperty("Node");
        return $"{node.GetProperty("Protocol").GetString()}://relay@{node.GetProperty("Host").GetString()}:{node.GetProperty("Port").GetInt32()}#{entry.GetProperty("NodeUid").GetInt64()}";
    }

    private static string AddressOf(string member) => member.Split('#')[0];

    /// <summary>
    /// Three Gateway processes with TLS between them that form their cluster by Cluster Bootstrap, started at once (none
    /// can form a cluster before all three answer), on a database of their own; shared by the class's specs.
    /// </summary>
    public sealed class BootstrappedCluster : IAsyncLifetime
    {
        private readonly PostgresServer _postgres;
        private readonly SemaphoreSlim _starting = new(1, 1);
        private RelayCluster? _cluster;

        /// <summary>Describes the cluster; it starts when a spec first asks for it.</summary>
        public BootstrappedCluster(PostgresServer postgres) => _postgres = postgres;

        /// <summary>How long the three took from their start to all being ready.</summary>
        public TimeSpan FormedIn { get; private set; }

        /// <summary>The running cluster, started if need be.</summary>
        public async Task<RelayCluster> ClusterAsync()
        {
            await _starting.WaitAsync();
            try
            {
                if (_cluster is null)
                {
                    var cluster = new RelayCluster(
                        await _postgres.CreateDatabaseAsync("relay_bootstrap"),
                        certificatePath: TestCertificate.CreatePkcs12("relay-bootstrap"),
                        bootstrap: true);
                    var clock = Stopwatch.StartNew();
                    await cluster.StartAllAtOnceAsync(TimeSpan.FromSeconds(150));
                    FormedIn = clock.Elapsed;
                    _cluster = cluster;
                }

                return _cluster;
            }
            finally
            {
                _starting.Release();
            }
        }

        /// <inheritdoc />
        public Task InitializeAsync() => Task.CompletedTask;

        /// <inheritdoc />
        public async Task DisposeAsync()
        {
            if (_cluster is not null)
            {
                await _cluster.DisposeAsync();
            }

            _starting.Dispose();
        }
    }

    /// <summary>A contact point of a peer that is not serving yet: it counts the bootstrap's probes and answers each with 503.</summary>
    private sealed class ProbedContactPoint : IDisposable
    {
        private readonly HttpListener _listener = new();
        private int _probes;

        public ProbedContactPoint()
        {
            Port = FreePort.Next();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Start();
            _ = AnswerAsync();
        }

        public int Port { get; }

        public int Probes => Volatile.Read(ref _probes);

        public void Dispose() => _listener.Close();

        private async Task AnswerAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                if (context.Request.Url?.AbsolutePath == "/bootstrap/seed-nodes")
                {
                    Interlocked.Increment(ref _probes);
                }

                context.Response.StatusCode = 503;
                context.Response.Close();
            }
        }
    }
}
