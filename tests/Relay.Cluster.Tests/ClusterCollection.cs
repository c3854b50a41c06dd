using Relay.Testing;
using Xunit;

namespace Relay.Cluster.Tests;

/// <summary>
/// The multi-node tests share one throwaway PostgreSQL server (each class or test gets its own database)
/// and run one after another: each starts three Gateway processes, which is all two cores can carry.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<PostgresServer>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "cluster";
}
