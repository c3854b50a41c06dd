#nullable enable
using Akka.Cluster.Sharding;
using Relay.Actors.Messages;

namespace Relay.Actors.Documents;

/// <summary>The <c>sharded</c> placement's routing: one entity per document, named by the document's path.</summary>
public sealed class DocumentMessageExtractor : HashCodeMessageExtractor
{
    /// <summary>Shards of the document sequencers: about ten per node for clusters of up to ten nodes.</summary>
    public const int ShardCount = 100;

    /// <summary>Creates the extractor.</summary>
    public DocumentMessageExtractor() : base(ShardCount)
    {
    }

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IDocumentCommand)?.Document.Path;
}
