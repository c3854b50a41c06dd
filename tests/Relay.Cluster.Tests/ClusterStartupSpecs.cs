using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>How a cluster comes up on an empty PostgreSQL database.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterStartupSpecs
{
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public ClusterStartupSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    [Fact]
    public async Task Should_form_one_cluster_when_every_node_starts_at_once_on_an_empty_database()
    {
        await using var cluster = new RelayCluster(await _postgres.CreateDatabaseAsync("relay_startup"));

        await cluster.StartAllAtOnceAsync(TimeSpan.FromSeconds(90));
        var clients = await Task.WhenAll(cluster.Nodes.Select(node => RelayClient.ConnectAsync(node.WebSocketUrl)));
        try
        {
            await clients[2].SendTextAsync("hello from node3");
            var received = await Task.WhenAll(clients.Take(2).Select(client => client.ReceiveAsync(TimeSpan.FromSeconds(20))));

            Assert.All(received, message => Assert.Equal("hello from node3", message.Text));
            Assert.Single(await cluster.HistoryHostsAsync());
            var journalErrors = cluster.Output.Split('\n')
                .Where(line => line.Contains("initialization", StringComparison.OrdinalIgnoreCase) && line.Contains("fail", StringComparison.OrdinalIgnoreCase))
                .ToList();
            foreach (var line in journalErrors)
            {
                _output.WriteLine(line);
            }

            Assert.Empty(journalErrors);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
