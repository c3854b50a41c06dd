#nullable enable
using Akka.Actor;
using Akka.Hosting;
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Actors.Messages;

namespace Relay.Actors.Documents;

/// <summary>
/// What the sequencer of a document says of it: everything up to <paramref name="LastSequence"/> is journaled, and
/// joiners start from the snapshot at <paramref name="JoinSnapshot"/> (compaction; 0: none, they replay the history).
/// </summary>
public sealed record DocumentStatus(long LastSequence, long JoinSnapshot)
{
    /// <summary>The epoch of the history (docs/protocol.md, the hello).</summary>
    public long Epoch { get; init; }

    /// <summary>The journal is trimmed through this sequence number (the server API's trim, retention); 0: not trimmed.</summary>
    public long TrimmedThrough { get; init; }
}

/// <summary>
/// The node's documents, as the Gateway sees them: whether another document may open here
/// (<c>Relay:Documents:MaxOpenPerNode</c>; this is the one count of the documents open on the node), a connection
/// to a document (<see cref="ClientConnection"/>), and what a document's sequencer says of it. The one way in from
/// outside the actor system: no actor or message type of the actors' is seen past it.
/// </summary>
public sealed class RelayDocuments
{
    private readonly IActorRegistry _registry;
    private readonly RelayOptions _options;
    private readonly ConnectionSettings _connectionSettings;
    private readonly Dictionary<DocumentName, int> _open = new() { [DocumentName.Default] = 1 };
    private readonly object _lock = new();
    private readonly DocumentApi? _api;

    /// <summary>
    /// Creates the node's documents service; with <paramref name="services"/> (the host's, which hold the actor system
    /// and the <see cref="NodeStatus"/>) it also serves the server API's publish and reads.
    /// </summary>
    public RelayDocuments(IActorRegistry registry, RelayOptions options, IServiceProvider? services = null)
    {
        _registry = registry;
        _options = options;
        if (services is not null)
        {
            _api = new DocumentApi(registry, options, () => (
                (ActorSystem)services.GetService(typeof(ActorSystem))!,
                (NodeStatus)services.GetService(typeof(NodeStatus))!));
        }

        _connectionSettings = ConnectionSettings.Default with
        {
            Held = HeldLimits.From(options),
            UnavailableAfter = TimeSpan.FromSeconds(options.UnavailableAfterSeconds),
        };
    }

    /// <summary>Documents some client of this node has open, and the default document, which always is.</summary>
    public int OpenDocuments
    {
        get
        {
            lock (_lock)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>
    /// Reserves a place for a connection to <paramref name="document"/>; null when the document is not open on
    /// this node and opening it would go over <c>Relay:Documents:MaxOpenPerNode</c>. Dispose the lease when the
    /// connection is done.
    /// </summary>
    public IDisposable? TryAdmit(DocumentName document)
    {
        lock (_lock)
        {
            _open.TryGetValue(document, out var count);
            if (count == 0 && _open.Count >= _options.Documents.MaxOpenPerNode)
            {
                return null;
            }

            _open[document] = count + 1;
        }

        return new Lease(this, document);
    }

    /// <summary>
    /// Opens a connection to <paramref name="document"/> for a client speaking <paramref name="protocol"/> (raw
    /// frames when null). Its actor is a child of the document's hub on this node.
    /// </summary>
    public async Task<ClientConnection> ConnectAsync(DocumentName document, ClientProtocol? protocol = null)
    {
        var connectionId = Guid.NewGuid().ToString("N");
        var link = new ClientLink(_options.MaxOutboundBytesPerConnection, _options.MaxInFlightPerConnection, _options.Presence.MaxQueuedBytes);
        var opened = await _registry.Get<DocumentHubsActor>().Ask<DocumentHubActor.ConnectionOpened>(
            new DocumentHubsActor.OpenConnection(document, new DocumentHubActor.OpenConnection(connectionId, link, _connectionSettings, protocol)),
            TimeSpan.FromSeconds(10));
        return new ClientConnection(connectionId, link, opened.Connection);
    }

    /// <summary>
    /// What the sequencer of <paramref name="document"/> (started if need be) says of it; null when it did not answer
    /// within <paramref name="timeout"/> (no sequencer reachable, or its journal is slow to recover).
    /// </summary>
    public Task<DocumentStatus?> TryGetStatusAsync(DocumentName document, TimeSpan timeout) =>
        TryGetStatusAsync(_registry, document, timeout, CancellationToken.None);

    /// <summary>The one ask of a document's sequencer for its status, for the sockets and the server API alike.</summary>
    internal static async Task<DocumentStatus?> TryGetStatusAsync(IActorRegistry registry, DocumentName document, TimeSpan timeout, CancellationToken cancellation)
    {
        try
        {
            var opened = await registry.Get<HistoryProxy>().Ask<DocumentOpened>(new OpenDocument(document), timeout, cancellation).ConfigureAwait(false);
            return new DocumentStatus(opened.LastSequence, opened.JoinSnapshot) { Epoch = opened.Epoch, TrimmedThrough = opened.TrimmedThrough };
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    /// <summary>
    /// Journals <paramref name="request"/> in <paramref name="document"/> through its sequencer, wherever it runs, and
    /// answers once it is journaled (or why not). Waits at most <c>Relay:UnavailableAfterSeconds</c>.
    /// </summary>
    public Task<PublishResult> PublishAsync(DocumentName document, PublishRequest request, CancellationToken cancellation = default) =>
        Api.PublishAsync(document, request, cancellation);

    /// <summary>
    /// The patches of <paramref name="document"/> after <paramref name="after"/>: at most <paramref name="limit"/>, and no
    /// more payload bytes than <paramref name="maxBytes"/> (but at least one patch). Reads the journal in windows of
    /// <c>Relay:Replay:MaxBufferedBytes</c>, as a joiner does.
    /// </summary>
    public Task<DocumentRead<HistoryPage>> ReadHistoryAsync(DocumentName document, long after, int limit, long maxBytes, CancellationToken cancellation = default) =>
        Api.ReadHistoryAsync(document, after, limit, maxBytes, cancellation);

    /// <summary>
    /// The state of <paramref name="document"/> at its head, with compaction: the snapshot joiners start from and the
    /// patches after it, folded as a joiner's client folds them.
    /// </summary>
    public Task<DocumentRead<DocumentStateAtHead>> ReadStateAsync(DocumentName document, CancellationToken cancellation = default) =>
        Api.ReadStateAsync(document, cancellation);

    /// <summary>
    /// Every patch of the documents whose names start with <paramref name="prefix"/> (empty: every document but the
    /// default) journaled after <paramref name="afterPosition"/>, history then live, in one order for every reader on
    /// any node; each names its document and its position, which a later call resumes after.
    /// </summary>
    public IAsyncEnumerable<DocumentChange> FollowAsync(string prefix, long afterPosition, CancellationToken cancellation = default) =>
        Api.FollowAsync(prefix, afterPosition, cancellation);

    /// <summary>
    /// The documents whose names start with <paramref name="prefix"/> that the journal holds, in name order, with their
    /// head and last write: at most <paramref name="limit"/> after <paramref name="cursor"/> (the last page's
    /// <see cref="DocumentList.Next"/>; null: the first page). Null when the journal did not answer.
    /// </summary>
    public Task<DocumentList?> ListAsync(string prefix, string? cursor, int limit, CancellationToken cancellation = default) =>
        Api.ListAsync(prefix, cursor, limit, cancellation);

    /// <summary>
    /// Deletes the whole history of <paramref name="document"/> through its sequencer: every journal event and snapshot
    /// of it, in one transaction; its connections on every node are closed, and its next history starts at 1 under a new
    /// epoch. Waits at most <c>Relay:UnavailableAfterSeconds</c>.
    /// </summary>
    public Task<HistoryEditResult> DeleteHistoryAsync(DocumentName document, CancellationToken cancellation = default) =>
        Api.EditHistoryAsync(new DeleteHistory(document), cancellation);

    /// <summary>
    /// Drops the journal events of <paramref name="document"/> before <paramref name="before"/>, where the snapshot
    /// joiners start from covers them (compaction); resumes from before the trim get a snapshot join.
    /// </summary>
    public Task<HistoryEditResult> TrimHistoryAsync(DocumentName document, long before, CancellationToken cancellation = default) =>
        Api.EditHistoryAsync(new TrimHistory(document, before), cancellation);

    private DocumentApi Api => _api ?? throw new InvalidOperationException("RelayDocuments was created without the host's services");

    private void Release(DocumentName document)
    {
        lock (_lock)
        {
            if (_open.TryGetValue(document, out var count))
            {
                if (count <= 1 && !document.IsDefault)
                {
                    _open.Remove(document);
                }
                else
                {
                    _open[document] = Math.Max(1, count - 1);
                }
            }
        }
    }

    private sealed class Lease(RelayDocuments documents, DocumentName document) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                documents.Release(document);
            }
        }
    }
}
