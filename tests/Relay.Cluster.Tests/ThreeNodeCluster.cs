using Relay.Testing;
using Xunit;

namespace Relay.Cluster.Tests;

/// <summary>
/// Three Gateway processes in one cluster on a fresh PostgreSQL database, shared by the tests of one class
/// (a class fixture; it takes the collection's <see cref="PostgresServer"/>). One cluster per
/// <c>Relay:Documents:Placement</c>, started by the first test that asks for it and kept until the class is
/// done: xunit runs a theory's rows one after the other, so the two placements alternate from test to test, and
/// restarting a cluster at every switch would cost more than two idle clusters side by side.
/// </summary>
public sealed class ThreeNodeCluster : IAsyncLifetime
{
    private readonly PostgresServer _postgres;
    private readonly SemaphoreSlim _starting = new(1, 1);
    private readonly Dictionary<string, RelayCluster> _clusters = new(StringComparer.Ordinal);

    /// <summary>The server API's key on every node.</summary>
    public const string ApiKey = "cluster-api-key-0123456789";

    /// <summary>Describes the clusters; nothing starts until a test asks for one.</summary>
    public ThreeNodeCluster(PostgresServer postgres) => _postgres = postgres;

    /// <summary>The server the journals live on.</summary>
    public PostgresServer Postgres => _postgres;

    /// <summary>The running cluster with <paramref name="placement"/> (<c>singleton</c> or <c>sharded</c>), started if need be.</summary>
    public async Task<RelayCluster> WithPlacementAsync(string placement)
    {
        await _starting.WaitAsync();
        try
        {
            if (!_clusters.TryGetValue(placement, out var cluster))
            {
                var connectionString = await _postgres.CreateDatabaseAsync("relay_specs_" + placement);
                // Compaction on: documents of Immer patches join from snapshots; the other specs' documents, whose
                // patches are not JSON, are marked not compactable and replay their history, as without it.
                cluster = new RelayCluster(connectionString, extra: new Dictionary<string, string>
                {
                    ["Relay:Documents:Placement"] = placement,
                    ["Relay:Compaction:Mode"] = "immer",
                    ["Relay:Api:Keys:0:Secret"] = ApiKey,
                    // Retention for the documents under kept/ only (ClusterRelaySpecs), swept every second.
                    ["Relay:Retention:Policies:0:Prefix"] = "kept/",
                    ["Relay:Retention:Policies:0:KeepLast"] = "5",
                    ["Relay:Retention:IntervalSeconds"] = "1",
                });
                await cluster.StartAsync();
                _clusters[placement] = cluster;
            }

            return cluster;
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
        foreach (var cluster in _clusters.Values)
        {
            await cluster.DisposeAsync();
        }

        _starting.Dispose();
    }
}
