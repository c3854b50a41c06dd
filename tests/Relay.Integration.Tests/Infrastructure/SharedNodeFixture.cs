using Relay.Testing;

namespace Relay.Integration.Tests.Infrastructure;

/// <summary>
/// One Gateway process with default settings, shared by the tests of <see cref="SharedNodeCollection"/>. Its
/// history grows with every test, so those tests start their clients at the live edge
/// (<see cref="RelayClientExtensions.ConnectAtLiveEdgeAsync"/>) or look only at their own, uniquely tagged patches.
/// </summary>
public sealed class SharedNodeFixture : IAsyncLifetime
{
    /// <summary>The shared node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("shared");

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>Tests that share one node run one after another, so one test's load does not skew another's.</summary>
[CollectionDefinition(Name)]
public sealed class SharedNodeCollection : ICollectionFixture<SharedNodeFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "shared node";
}
