using System.Diagnostics;
using System.Net.WebSockets;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// TLS with mutual authentication between nodes: a three-node cluster whose nodes share one certificate, and two
/// real Gateway processes given the same seeds and the same journal, one with a certificate of its own and one
/// without TLS. Neither may become a member or get a patch to the cluster's clients.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTlsSpecs
{
    // Longer than /readyz's own bound (its journal check gives up after twice 3 s): an intruder, which never joins,
    // can take that long to answer on a busy machine.
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(15) };
    private static readonly TimeSpan Watch = TimeSpan.FromSeconds(10);
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public ClusterTlsSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    [Fact]
    public async Task Should_keep_a_node_without_the_certificate_out_of_the_cluster_and_its_patches_away_from_the_clients()
    {
        var clock = Stopwatch.StartNew();
        var connectionString = await _postgres.CreateDatabaseAsync("relay_tls");
        await using var cluster = new RelayCluster(connectionString, certificatePath: TestCertificate.CreatePkcs12("relay-cluster"));
        // All at once, as an orchestrator starts them (node1 alone would first wait out the seed-node timeout).
        await cluster.StartAllAtOnceAsync();
        var started = clock.Elapsed;
        await using var onNode1 = await RelayClient.ConnectAsync(cluster[0].WebSocketUrl);
        await using var onNode2 = await RelayClient.ConnectAsync(cluster[1].WebSocketUrl);
        await using var onNode3 = await RelayClient.ConnectAsync(cluster[2].WebSocketUrl);
        await onNode1.SendTextAsync("over tls");
        var relayed = await Task.WhenAll(onNode2.ReceiveAsync(TimeSpan.FromSeconds(15)), onNode3.ReceiveAsync(TimeSpan.FromSeconds(15)));

        // Same seeds, same journal; one presents a self-signed certificate of its own, the other speaks plain TCP.
        var plainSeeds = cluster.Nodes.Select(node => $"akka.tcp://relay@127.0.0.1:{node.AkkaPort}").ToList();
        await using var wrongCertificate = RelayNode.Postgres("intruder-cert", connectionString, cluster.SeedNodes,
            extra: RelayCluster.TlsSettings(TestCertificate.CreatePkcs12("intruder")));
        await using var withoutTls = RelayNode.Postgres("intruder-plain", connectionString, plainSeeds);
        RelayNode[] intruders = [wrongCertificate, withoutTls];
        foreach (var intruder in intruders)
        {
            intruder.Launch();
        }

        var refused = await Task.WhenAll(intruders.Select(async intruder =>
            await WaitServingAsync(intruder) ? await TryUpgradeAsync(intruder) : $"refused (exited with {intruder.ExitCode} before serving)"));

        // For a while (several seed-join rounds), neither intruder turns ready nor shows up as a member.
        var watched = Stopwatch.StartNew();
        var readyz = new List<string>();
        var members = new List<long>();
        while (watched.Elapsed < Watch)
        {
            readyz.AddRange(await Task.WhenAll(intruders.Select(ReadyStatusAsync)));
            members.AddRange(await Task.WhenAll(cluster.Nodes.Select(Probe.MembersAsync)));
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }

        var leaked = await Task.WhenAll(onNode1.ReceiveNothingAsync(TimeSpan.FromSeconds(1)), onNode2.ReceiveNothingAsync(TimeSpan.FromSeconds(1)));
        var history = await Probe.ReadHistoryAsync(cluster[2], await Probe.SettledLastSequenceAsync(cluster.Nodes));

        _output.WriteLine($"TLS cluster of 3 ready in {started.TotalSeconds:F1} s; intruders watched for {Watch.TotalSeconds:F0} s: " +
                          $"/readyz {string.Join(",", readyz.Distinct())}, members seen by the cluster {string.Join(",", members.Distinct())}, " +
                          $"upgrades on the intruders: {string.Join("; ", refused)}; still running: {string.Join(", ", intruders.Select(intruder => $"{intruder.Name} {intruder.IsRunning}"))}; whole spec {clock.Elapsed.TotalSeconds:F1} s");
        Assert.All(relayed, message => Assert.Equal("over tls", message.Text));
        Assert.All(readyz, status => Assert.Contains(status, new[] { "503", "exited" }));
        Assert.All(members, count => Assert.Equal(3, count));
        Assert.All(refused, outcome => Assert.StartsWith("refused", outcome, StringComparison.Ordinal));
        Assert.All(leaked, message => Assert.Null(message));
        Assert.Equal(["over tls"], history);
    }

    /// <summary>
    /// Waits until <paramref name="node"/> answers HTTP at all (it is not expected to become ready): true. False when it
    /// exited first, as Akka.Remote shuts down a node whose outbound TLS handshake fails (exit code 79), which can come
    /// before its HTTP server is up; any other exit fails the spec.
    /// </summary>
    private static async Task<bool> WaitServingAsync(RelayNode node)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (!node.IsRunning)
            {
                Assert.True(node.ExitCode == 79, $"{node.Name} exited with {node.ExitCode}:\n{node.Output}");
                return false;
            }

            try
            {
                using var response = await Http.GetAsync(new Uri(node.HttpUrl, "healthz"));
                return true;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>A client of the intruder sends a patch if the intruder lets it in at all.</summary>
    private static async Task<string> TryUpgradeAsync(RelayNode node)
    {
        try
        {
            await using var client = await RelayClient.ConnectAsync(node.WebSocketUrl);
            await client.SendTextAsync($"forged by {node.Name}");
            return "accepted";
        }
        catch (WebSocketException ex)
        {
            return $"refused ({ex.Message})";
        }
    }

    /// <summary><c>/readyz</c>'s status, or "exited": Akka.Remote shuts a node down (exit code 79) whose outbound TLS handshake fails.</summary>
    private static async Task<string> ReadyStatusAsync(RelayNode node)
    {
        try
        {
            using var response = await Http.GetAsync(new Uri(node.HttpUrl, "readyz"));
            return ((int)response.StatusCode).ToString();
        }
        catch (HttpRequestException)
        {
            // Kestrel stops listening a moment before the process is gone.
            return await Probe.EventuallyAsync(() => !node.IsRunning, TimeSpan.FromSeconds(15)) ? "exited" : "not answering";
        }
    }

}
