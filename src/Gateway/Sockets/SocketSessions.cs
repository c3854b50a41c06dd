using System.Collections.Concurrent;
using Relay.Actors.Connections;
using Relay.Actors.Documents;

namespace Relay.Gateway.Sockets;

/// <summary>The node's open socket sessions: opens their connections and closes them all on shutdown.</summary>
public sealed class SocketSessions
{
    private readonly ConcurrentDictionary<string, ClientLink> _open = new();
    private readonly RelayDocuments _documents;

    /// <summary>Creates the session table of the node.</summary>
    public SocketSessions(RelayDocuments documents, IHostApplicationLifetime lifetime)
    {
        _documents = documents;
        lifetime.ApplicationStopping.Register(() => CloseAll(new CloseRequest(RelayCloseCodes.GoingAway, "server shutting down")));
    }

    /// <summary>Open sessions on this node.</summary>
    public int Count => _open.Count;

    /// <summary>Starts a session on <paramref name="document"/> for a client speaking <paramref name="protocol"/>: a link and its connection actor.</summary>
    public async Task<RelayConnection> OpenAsync(DocumentName document, ClientProtocol protocol)
    {
        var connection = await _documents.ConnectAsync(document, protocol);
        _open[connection.ConnectionId] = connection.Link;
        return connection;
    }

    /// <summary>Forgets a finished session.</summary>
    public void Remove(string connectionId) => _open.TryRemove(connectionId, out _);

    private void CloseAll(CloseRequest request)
    {
        foreach (var link in _open.Values)
        {
            link.Close(request);
        }
    }
}
