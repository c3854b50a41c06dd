using System.Collections.Concurrent;
using Relay.Actors.Connections;
using Relay.Actors.Documents;

namespace Relay.Gateway.Sockets;

/// <summary>The node's open socket sessions: opens their connections and ends them all on shutdown.</summary>
public sealed class SocketSessions
{
    private readonly ConcurrentDictionary<string, ClientConnection> _open = new();
    private readonly RelayDocuments _documents;

    /// <summary>Creates the session table of the node.</summary>
    public SocketSessions(RelayDocuments documents, IHostApplicationLifetime lifetime)
    {
        _documents = documents;
        lifetime.ApplicationStopping.Register(() =>
        {
            foreach (var connection in _open.Values)
            {
                connection.Disconnect(CloseReason.Stopping);
            }
        });
    }

    /// <summary>Open sessions on this node.</summary>
    public int Count => _open.Count;

    /// <summary>Opens the connection of a session on <paramref name="document"/> for a client speaking <paramref name="protocol"/>.</summary>
    public async Task<ClientConnection> OpenAsync(DocumentName document, ClientProtocol protocol)
    {
        var connection = await _documents.ConnectAsync(document, protocol);
        _open[connection.Id] = connection;
        return connection;
    }

    /// <summary>Forgets a finished session.</summary>
    public void Remove(string connectionId) => _open.TryRemove(connectionId, out _);
}
