#nullable enable
using Akka.Actor;
using Akka.Hosting;
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Actors.Messages;

namespace Relay.Actors.Documents;

/// <summary>A connection opened by <see cref="RelayDocuments.ConnectAsync"/>: the link to serve and the actor to send the client's frames to.</summary>
public sealed record RelayConnection(string ConnectionId, ClientLink Link, IActorRef Actor);

/// <summary>
/// The node's documents, as the gateway sees them: whether another document may open here
/// (<c>Relay:Documents:MaxOpenPerNode</c>), a connection to a document, and a document's last sequence number.
/// The one way in from outside the actor system; it knows nothing of HTTP.
/// </summary>
public sealed class RelayDocuments
{
    private readonly IActorRegistry _registry;
    private readonly RelayOptions _options;
    private readonly ConnectionSettings _connectionSettings;
    private readonly Dictionary<DocumentName, int> _open = new() { [DocumentName.Default] = 1 };
    private readonly object _lock = new();

    /// <summary>Creates the node's documents service.</summary>
    public RelayDocuments(IActorRegistry registry, RelayOptions options)
    {
        _registry = registry;
        _options = options;
        _connectionSettings = ConnectionSettings.Default with
        {
            MaxBufferedLiveBytes = options.Replay.MaxBufferedBytes,
            UnavailableAfter = TimeSpan.FromSeconds(options.UnavailableAfterSeconds),
        };
    }

    /// <summary>Documents open on this node (the default document always is).</summary>
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
    /// frames when null): its link and its actor, a child of the document's hub.
    /// </summary>
    public async Task<RelayConnection> ConnectAsync(DocumentName document, ClientProtocol? protocol = null)
    {
        var connectionId = Guid.NewGuid().ToString("N");
        var link = new ClientLink(_options.MaxOutboundBytesPerConnection, _options.MaxInFlightPerConnection);
        var opened = await _registry.Get<DocumentHubsActor>().Ask<DocumentHubActor.ConnectionOpened>(
            new DocumentHubsActor.OpenConnection(document, new DocumentHubActor.OpenConnection(connectionId, link, _connectionSettings, protocol)),
            TimeSpan.FromSeconds(10));
        return new RelayConnection(connectionId, link, opened.Connection);
    }

    /// <summary>The last sequence number of <paramref name="document"/>, as its sequencer (started if need be) knows it.</summary>
    public async Task<long> LastSequenceAsync(DocumentName document, TimeSpan timeout) =>
        (await StatusAsync(document, timeout)).LastSequence;

    /// <summary>
    /// What the sequencer of <paramref name="document"/> (started if need be) says of it: its last sequence number, its
    /// epoch and the snapshot its joiners start from (0: none).
    /// </summary>
    public Task<DocumentOpened> StatusAsync(DocumentName document, TimeSpan timeout) =>
        _registry.Get<HistoryProxy>().Ask<DocumentOpened>(new OpenDocument(document), timeout);

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
