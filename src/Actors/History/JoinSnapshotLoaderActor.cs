#nullable enable
using Akka.Actor;
using Akka.Persistence;
using Relay.Actors.Compaction;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.History;

/// <summary>
/// Loads, for its parent (a document's hub), the snapshot the document's joiners on this node start from: reads it
/// from the snapshot store and turns it into the <see cref="JoinSnapshot"/> they share, so the hub never reads
/// persistence itself. It answers each <see cref="Load"/> with <see cref="Loaded"/> or <see cref="LoadFailed"/>.
/// </summary>
internal sealed class JoinSnapshotLoaderActor : ReceiveActor
{
    /// <summary>Creates the loader of <paramref name="document"/>'s snapshots; <paramref name="historyDeleted"/>: see <see cref="JoinSnapshot.HistoryDeleted"/>.</summary>
    public JoinSnapshotLoaderActor(DocumentName document, bool historyDeleted)
    {
        var store = Persistence.Instance.Apply(Context.System).SnapshotStoreFor(null);
        Receive<Load>(load => store.Tell(new LoadSnapshot(document.PersistenceId, new SnapshotSelectionCriteria(load.Sequence), load.Sequence)));
        Receive<LoadSnapshotResult>(result => Context.Parent.Tell(new Loaded(Decode(result.Snapshot?.Snapshot as HistorySnapshot, historyDeleted))));
        Receive<LoadSnapshotFailed>(failed => Context.Parent.Tell(new LoadFailed(failed.Cause)));
    }

    /// <summary>Props for the loader of <paramref name="document"/>'s snapshots.</summary>
    public static Props Props(DocumentName document, bool historyDeleted) =>
        Akka.Actor.Props.Create(() => new JoinSnapshotLoaderActor(document, historyDeleted));

    /// <summary>
    /// The joiners' snapshot from a sequencer's <paramref name="snapshot"/>: the patch that replaces the root with its
    /// folded state, and the last frames of the named clients in it. Null unless it holds a compactable state.
    /// </summary>
    public static JoinSnapshot? Decode(HistorySnapshot? snapshot, bool historyDeleted)
    {
        if (snapshot is not { Compactable: true })
        {
            return null;
        }

        var frames = snapshot.Cursors
            .Where(cursor => cursor.ConnectionId.StartsWith(ClientProtocol.ClientOriginPrefix, StringComparison.Ordinal))
            .ToDictionary(cursor => cursor.ConnectionId, cursor => cursor.FrameNo, StringComparer.Ordinal);
        return new JoinSnapshot(snapshot.LastSequence, DocumentFold.ReplaceRootPatch(snapshot.CompactionMode, snapshot.State.Span), frames)
        {
            HistoryDeleted = historyDeleted,
        };
    }

    /// <summary>Load the latest snapshot at or before <paramref name="Sequence"/>.</summary>
    public sealed record Load(long Sequence);

    /// <summary>The snapshot loaded; null: none found that holds a compactable state.</summary>
    public sealed record Loaded(JoinSnapshot? Snapshot);

    /// <summary>The snapshot store failed to load it.</summary>
    public sealed record LoadFailed(Exception Cause);
}
