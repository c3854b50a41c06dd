using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using Relay.Actors.Connections;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;

namespace Relay.Gateway.Sockets;

/// <summary>The node's open socket sessions: creates their connection actors and closes them all on shutdown.</summary>
public sealed class SocketSessions
{
    private readonly ConcurrentDictionary<string, ClientLink> _open = new();
    private readonly ActorSystem _system;
    private readonly IActorRegistry _registry;
    private readonly IPatchJournal _journal;
    private readonly RelayOptions _options;
    private readonly ConnectionSettings _settings;

    /// <summary>Creates the session table of the node.</summary>
    public SocketSessions(ActorSystem system, IActorRegistry registry, RelayOptions options, IHostApplicationLifetime lifetime)
    {
        _system = system;
        _registry = registry;
        _options = options;
        _settings = ConnectionSettings.Default with { UnavailableAfter = TimeSpan.FromSeconds(options.UnavailableAfterSeconds) };
        _journal = RelayHostingExtensions.CreatePatchJournal(system);
        lifetime.ApplicationStopping.Register(() => CloseAll(new CloseRequest(RelayCloseCodes.GoingAway, "server shutting down")));
    }

    /// <summary>Open sessions on this node.</summary>
    public int Count => _open.Count;

    /// <summary>Starts a session: a link and its connection actor.</summary>
    public (string ConnectionId, ClientLink Link, IActorRef Actor) Open()
    {
        var connectionId = Guid.NewGuid().ToString("N");
        var link = new ClientLink(_options.MaxOutboundBytesPerConnection, _options.MaxInFlightPerConnection);
        _open[connectionId] = link;
        var actor = RelayHostingExtensions.OpenConnection(_system, _registry, _journal, connectionId, link, _settings);
        return (connectionId, link, actor);
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
