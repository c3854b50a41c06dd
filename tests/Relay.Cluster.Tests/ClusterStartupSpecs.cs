using Npgsql;
using Relay.Actors.Journal;
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
            // The nodes raced to create the journal's tables; each one's journal works all the same: once ready, every
            // node journals, replays and deletes a patch of its own (its journal warm-up), and no journal write failed.
            var warmedUp = await Probe.EventuallyAsync(async () => (await WarmedUpAsync(cluster)).Count == cluster.Nodes.Count, TimeSpan.FromSeconds(60));
            var scrapes = await Task.WhenAll(cluster.Nodes.Select(Scrape.TakeAsync));
            var failedWrites = scrapes.Sum(scrape => scrape.Value("relay_journal_write_failures_total"));
            _output.WriteLine($"journal warm-ups done: {string.Join(", ", await WarmedUpAsync(cluster))}; failed journal writes: {failedWrites}");

            Assert.True(warmedUp, $"not every node's journal warm-up completed\n{cluster.Output}");
            Assert.Equal(0, failedWrites);
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The nodes whose journal warm-up is done: its persistence id (<c>relay-warm-up/host:port</c>) has a row in the
    /// journal, marked deleted by the warm-up's last step.
    /// </summary>
    private static async Task<IReadOnlyList<string>> WarmedUpAsync(RelayCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT DISTINCT persistence_id FROM journal WHERE persistence_id LIKE @prefix AND deleted ORDER BY persistence_id",
            connection);
        command.Parameters.AddWithValue("prefix", JournalWarmUp.PersistenceIdPrefix + "%");
        var done = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            done.Add(reader.GetString(0));
        }

        return cluster.Nodes.Where(node => done.Contains($"{JournalWarmUp.PersistenceIdPrefix}127.0.0.1:{node.AkkaPort}")).Select(node => node.Name).ToList();
    }
}
