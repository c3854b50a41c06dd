using Relay.Testing;
using Xunit;

namespace Relay.Cluster.Tests;

/// <summary>
/// Three Gateway processes in one cluster on a fresh PostgreSQL database, shared by the tests of one class
/// (a class fixture; it takes the collection's <see cref="PostgresServer"/>). The cluster runs with one
/// <c>Relay:Documents:Placement</c> at a time: asking for the other placement stops it and starts a new one on a
/// new database, so a class ordered by placement (<see cref="PlacementOrderer"/>) starts each cluster once.
/// </summary>
public sealed class ThreeNodeCluster : IAsyncLifetime
{
    private readonly PostgresServer _postgres;
    private readonly SemaphoreSlim _switching = new(1, 1);
    private RelayCluster? _cluster;
    private string? _placement;

    /// <summary>Describes the cluster; nothing starts until a test asks for it.</summary>
    public ThreeNodeCluster(PostgresServer postgres) => _postgres = postgres;

    /// <summary>The server the journal lives on.</summary>
    public PostgresServer Postgres => _postgres;

    /// <summary>The running cluster with <paramref name="placement"/> (<c>singleton</c> or <c>sharded</c>), started if need be.</summary>
    public async Task<RelayCluster> WithPlacementAsync(string placement)
    {
        await _switching.WaitAsync();
        try
        {
            if (_cluster is not null && _placement == placement)
            {
                return _cluster;
            }

            if (_cluster is not null)
            {
                await _cluster.DisposeAsync();
                _cluster = null;
            }

            var connectionString = await _postgres.CreateDatabaseAsync("relay_specs_" + placement);
            var cluster = new RelayCluster(connectionString, extra: new Dictionary<string, string> { ["Relay:Documents:Placement"] = placement });
            await cluster.StartAsync();
            (_cluster, _placement) = (cluster, placement);
            return cluster;
        }
        finally
        {
            _switching.Release();
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

        _switching.Dispose();
    }
}
