#nullable enable
using Akka.Actor;
using Relay.Actors.Documents;
using Relay.Actors.Journal;

namespace Relay.Actors.Fanout;

/// <summary>
/// The node's document hubs: it starts a <see cref="DocumentHubActor"/> when the node opens a connection to a
/// document it has none for, and stops it once the hub reports that its last connection left and no open is on
/// its way to it. The default document's hub starts with the node and never stops.
/// </summary>
internal sealed class DocumentHubsActor : ReceiveActor
{
    private readonly Func<DocumentName, IActorRef> _startHub;
    private readonly Dictionary<DocumentName, (IActorRef Hub, int Opened)> _hubs = new();
    private long _started;

    /// <summary>Creates the node's hubs.</summary>
    public DocumentHubsActor(IActorRef mediator, IActorRef sequencers, HistoryReader reader, HubSettings settings, NodeStatus status)
    {
        _startHub = document => Context.ActorOf(
            DocumentHubActor.Props(document, mediator, sequencers, reader, settings, document.IsDefault ? status : null),
            "hub-" + ++_started);

        Receive<OpenConnection>(open =>
        {
            if (!_hubs.TryGetValue(open.Document, out var entry))
            {
                entry = (_startHub(open.Document), 0);
            }

            _hubs[open.Document] = (entry.Hub, entry.Opened + 1);
            entry.Hub.Forward(open.Open);
        });
        Receive<HubIdle>(idle =>
        {
            // An open forwarded after the hub counted its connections is still on its way: the hub stays.
            if (_hubs.TryGetValue(idle.Document, out var entry) && entry.Hub.Equals(Sender) && entry.Opened == idle.Opened)
            {
                _hubs.Remove(idle.Document);
                    Context.Stop(entry.Hub);
            }
        });
    }

    /// <summary>Props for the node's hubs.</summary>
    public static Props Props(IActorRef mediator, IActorRef sequencers, HistoryReader reader, HubSettings settings, NodeStatus status) =>
        Akka.Actor.Props.Create(() => new DocumentHubsActor(mediator, sequencers, reader, settings, status));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _hubs[DocumentName.Default] = (_startHub(DocumentName.Default), 0);
    }

    /// <summary>Opens a connection to <paramref name="Document"/> on this node; the hub answers with <see cref="DocumentHubActor.ConnectionOpened"/>.</summary>
    public sealed record OpenConnection(DocumentName Document, DocumentHubActor.OpenConnection Open);

    /// <summary>From a hub: its last connection left, after <paramref name="Opened"/> opens in all.</summary>
    public sealed record HubIdle(DocumentName Document, int Opened);
}
