using Relay.Testing;
using Xunit;

namespace Relay.Cluster.Tests;

/// <summary>
/// Three Gateway processes in one cluster on a fresh PostgreSQL database, shared by the tests of one class
/// (a class fixture; it takes the collection's <see cref="PostgresServer"/>).
/// </summary>
public sealed class ThreeNodeCluster : IAsyncLifetime
{
    private readonly PostgresServer _postgres;

    /// <summary>Describes the cluster; it starts in <see cref="InitializeAsync"/>.</summary>
    public ThreeNodeCluster(PostgresServer postgres) => _postgres = postgres;

    /// <summary>The running cluster.</summary>
    public RelayCluster Cluster { get; private set; } = null!;

    /// <summary>The server the journal lives on.</summary>
    public PostgresServer Postgres => _postgres;

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var connectionString = await _postgres.CreateDatabaseAsync("relay_specs");
        Cluster = new RelayCluster(connectionString);
        await Cluster.StartAsync();
    }

    /// <inheritdoc />
    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}
