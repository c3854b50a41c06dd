#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Relay.Actors.Messages;

namespace Relay.Actors.Fanout;

/// <summary>
/// The node's one subscriber to the patch topic; it fans each patch out to the node's connections.
/// One subscriber per node means the topic sends each patch once per node, and a connection that just
/// opened is reachable at once instead of after the next gossip round.
/// </summary>
public sealed class PatchHubActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _mediator;
    private readonly NodeStatus _status;
    private readonly HashSet<IActorRef> _connections = new();

    /// <summary>Creates the hub; it subscribes through <paramref name="mediator"/> and reports to <paramref name="status"/>.</summary>
    public PatchHubActor(IActorRef mediator, NodeStatus status)
    {
        _mediator = mediator;
        _status = status;

        Receive<PatchAppended>(patch =>
        {
            _status.ObserveSequence(patch.Sequence);
            foreach (var connection in _connections)
            {
                connection.Tell(patch);
            }
        });
        Receive<HistoryHeartbeat>(heartbeat =>
        {
            var revealsLoss = heartbeat.LastSequence > _status.LastSequence;
            _status.ObserveHeartbeat(heartbeat.LastSequence);
            if (revealsLoss)
            {
                // The topic lost a patch on its way to this node (delivery is at most once): the connections
                // fill the gap from the journal. When nothing was lost they hear nothing, so idle connections
                // cost no work per heartbeat.
                foreach (var connection in _connections)
                {
                    connection.Tell(heartbeat);
                }
            }
        });
        Receive<RegisterConnection>(register =>
        {
            if (_connections.Add(register.Connection))
            {
                Context.Watch(register.Connection);
                _status.ConnectionCount = _connections.Count;
            }

            // The hub is the only writer of the node's last sequence: what it reads back is what it has seen.
            register.Connection.Tell(new RegisterConnectionResponse(_status.LastSequence));
        });
        Receive<Terminated>(terminated =>
        {
            _connections.Remove(terminated.ActorRef);
            _status.ConnectionCount = _connections.Count;
        });
        Receive<SubscribeAck>(_ =>
        {
            _log.Info("Subscribed to topic {Topic}", RelayTopics.Patches);
            _status.MarkSubscribed();
        });
    }

    /// <summary>Props for the hub.</summary>
    public static Props Props(IActorRef mediator, NodeStatus status) =>
        Akka.Actor.Props.Create(() => new PatchHubActor(mediator, status));

    /// <inheritdoc />
    protected override void PreStart() => _mediator.Tell(new Subscribe(RelayTopics.Patches, Self));

    /// <summary>A connection asks for the node's live patches; answered with <see cref="RegisterConnectionResponse"/>.</summary>
    public sealed record RegisterConnection(IActorRef Connection);

    /// <summary>
    /// From now on the connection gets every live patch the node receives; everything up to
    /// <paramref name="LastSequence"/> (the highest sequence the hub has seen) is in the journal.
    /// </summary>
    public sealed record RegisterConnectionResponse(long LastSequence);
}
