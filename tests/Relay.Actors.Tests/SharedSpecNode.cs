#nullable enable
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>
/// One <see cref="SpecNode"/> shared by every spec of a class that only reads the node's wiring (its serializers,
/// its settings) and changes nothing in it: a node per spec would cost a start and a stop each.
/// </summary>
public sealed class SharedSpecNode : IAsyncLifetime
{
    private SpecNode? _node;

    /// <summary>The node, started before the class's first spec.</summary>
    public SpecNode Node => _node ?? throw new InvalidOperationException("the node is not started yet");

    /// <inheritdoc />
    public Task InitializeAsync() => Task.Run(() => _node = SpecNode.Start());

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_node is null)
        {
            return;
        }

        await _node.DisposeAsync();
        try
        {
            Directory.Delete(_node.Folder, recursive: true);
        }
        catch (IOException)
        {
            // A pooled SQLite connection may still hold the file; the temp folder is cleaned by the OS.
        }
    }
}
