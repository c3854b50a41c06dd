#nullable enable
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Relay.Actors.Connections;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.Presence;

/// <summary>
/// The presence of one document on one node, a child of the document's hub: a thin actor over
/// <see cref="PresenceState"/>. It knows the node's <c>relay.v1</c> connections of the document, hands each the list
/// right after its hello and every later change (never its own entry) on the connection's ephemeral lane, and
/// keeps the other nodes' lists of this node's entries right over the document's presence topic: a change at
/// once, the whole list as a heartbeat every third of the timeout (other nodes expire what is not refreshed), and
/// a node that becomes unreachable or leaves takes its entries out at once.
/// </summary>
internal sealed class PresenceActor : ReceiveActor, IWithTimers
{
    // Below Akka.Remote's frame size (at least 128 000 bytes, RelayHostingExtensions) with room for the envelope.
    private const int MaxGossipBytes = 64 * 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DocumentName _document;
    private readonly IActorRef _mediator;
    private readonly PresenceSettings _settings;
    private readonly string _self;
    private readonly PresenceState _state;
    private readonly Dictionary<IActorRef, Receiver> _receivers = new();

    // Nodes whose gossip is not taken: unreachable ones (until reachable again) and removed ones (until one is up again
    // at that address). Their entries were dropped; a reachable node's next heartbeat brings its entries back.
    private readonly HashSet<string> _ignored = new(StringComparer.Ordinal);
    private bool _ticking;
    private int _localPresent;

    /// <summary>Creates the presence of <paramref name="document"/> on this node.</summary>
    public PresenceActor(DocumentName document, IActorRef mediator, PresenceSettings settings)
    {
        _document = document;
        _mediator = mediator;
        _settings = settings;
        _self = Cluster.Get(Context.System).SelfAddress.ToString();
        _state = new PresenceState(_self, settings.Limits);

        Receive<SubscribeAck>(_ => Publish(LocalEntries(), [], heartbeat: true, askBack: true));
        Receive<Connected>(OnConnected);
        Receive<SetState>(set => Apply(_state.Set(set.Client, set.Incarnation, set.State, Now)));
        Receive<ClearState>(clear => Apply(_state.Clear(clear.Client, clear.Incarnation, Now)));
        Receive<Heard>(heard => Apply(_state.Heard(heard.Client, heard.Incarnation, Now)));
        Receive<Disconnected>(OnDisconnected);
        Receive<Terminated>(terminated =>
        {
            if (_receivers.Remove(terminated.ActorRef, out var receiver))
            {
                Apply(_state.Disconnect(receiver.Client, receiver.Incarnation));
            }
        });
        Receive<PresenceGossip>(OnGossip);
        Receive<Broadcast>(OnBroadcast);
        Receive<PresenceBroadcast>(broadcast =>
        {
            if (broadcast.Node != _self)
            {
                Deliver(new BroadcastFrame(broadcast.Client, broadcast.User, broadcast.Payload, broadcast.IsText), broadcast.Client);
            }
        });
        Receive<Tick>(_ => OnTick());
        Receive<SendHeartbeat>(_ => Publish(LocalEntries(), [], heartbeat: true));
        Receive<ClusterEvent.UnreachableMember>(unreachable => DropNode(unreachable.Member.Address.ToString()));
        Receive<ClusterEvent.MemberRemoved>(removed => DropNode(removed.Member.Address.ToString()));
        Receive<ClusterEvent.ReachableMember>(reachable => Readmit(reachable.Member.Address.ToString()));
        Receive<ClusterEvent.MemberUp>(up => Readmit(up.Member.Address.ToString()));
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    private static long Now => Environment.TickCount64;

    /// <summary>Props for the presence of <paramref name="document"/> on this node.</summary>
    public static Props Props(DocumentName document, IActorRef mediator, PresenceSettings settings) =>
        Akka.Actor.Props.Create(() => new PresenceActor(document, mediator, settings));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _mediator.Tell(new Subscribe(_document.PresenceTopic, Self));
        Cluster.Get(Context.System).Subscribe(
            Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IReachabilityEvent),
            typeof(ClusterEvent.MemberRemoved),
            typeof(ClusterEvent.MemberUp));
        Timers.StartPeriodicTimer(nameof(SendHeartbeat), SendHeartbeat.Instance, _settings.HeartbeatInterval);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        Cluster.Get(Context.System).Unsubscribe(Self);

        // The hub stops once its last connection left; whatever of this node is still listed leaves the other nodes
        // now rather than at its expiry.
        var left = LocalEntries();
        if (left.Count > 0)
        {
            Publish([], left, heartbeat: false);
        }

        CountLocalPresent(0);
    }

    private void OnConnected(Connected connected)
    {
        Context.Watch(connected.Connection);
        var receiver = new Receiver(connected.Link, connected.Client, connected.Incarnation);
        _receivers[connected.Connection] = receiver;

        // The list right after the hello, when anyone is there (the connection sent its hello before this).
        var list = _state.ListFor(connected.Client);
        if (list.Count > 0)
        {
            SendList(receiver, list);
        }

        Apply(_state.Connect(connected.Client, connected.User, connected.Incarnation, Now));
    }

    private void OnDisconnected(Disconnected disconnected)
    {
        if (_receivers.Remove(disconnected.Connection, out var receiver))
        {
            Context.Unwatch(disconnected.Connection);
            Apply(_state.Disconnect(receiver.Client, receiver.Incarnation));
        }
    }

    private void OnBroadcast(Broadcast broadcast)
    {
        Apply(_state.Heard(broadcast.Client, broadcast.Incarnation, Now));
        Deliver(new BroadcastFrame(broadcast.Client, broadcast.User, broadcast.Payload, broadcast.IsText), broadcast.Client);

        // Every node's presence of the document listens on its topic; this one skips its own.
        _mediator.Tell(new Publish(
            _document.PresenceTopic,
            new PresenceBroadcast(_document, _self, broadcast.Client, broadcast.User, broadcast.Payload, broadcast.IsText)));
    }

    /// <summary>Hands a broadcast to every receiver of this node but those of its sender's name; dropped where the lane is full.</summary>
    private void Deliver(BroadcastFrame frame, string from)
    {
        foreach (var receiver in _receivers.Values)
        {
            if (receiver.Client != from)
            {
                receiver.Link.TryEnqueueEphemeral(frame);
            }
        }
    }

    private void OnGossip(PresenceGossip gossip)
    {
        if (gossip.Node == _self || _ignored.Contains(gossip.Node))
        {
            return;
        }

        var now = Now;
        var events = new List<PresenceEvent>();
        foreach (var entry in gossip.Present)
        {
            // A node speaks for its own entries only.
            if (entry.Node == gossip.Node)
            {
                events.AddRange(_state.Announced(entry, now));
            }
        }

        foreach (var entry in gossip.Left)
        {
            events.AddRange(_state.Withdrawn(entry.Client, gossip.Node, entry.Incarnation));
        }

        Apply(events);
        if (gossip.AskBack)
        {
            // A node that just started listing the document (or healed) hears this node's entries now, not at the next heartbeat.
            foreach (var chunk in Chunks(LocalEntries()))
            {
                Sender.Tell(new PresenceGossip(_document, _self, chunk, []) { Heartbeat = true });
            }
        }
    }

    private void OnTick()
    {
        Apply(_state.Tick(Now));
        foreach (var receiver in _receivers.Values.Where(receiver => receiver.NeedsList))
        {
            SendList(receiver, _state.ListFor(receiver.Client));
        }

        if (_state.IsEmpty && !_receivers.Values.Any(receiver => receiver.NeedsList))
        {
            Timers.Cancel(nameof(Tick));
            _ticking = false;
        }
    }

    private void DropNode(string node)
    {
        if (node == _self)
        {
            return;
        }

        _ignored.Add(node);
        var dropped = _state.DropNode(node);
        if (dropped.Count > 0)
        {
            _log.Info("Presence of {Document}: {Count} clients of node {Node} left with it", _document, dropped.Count, node);
        }

        Apply(dropped);
    }

    private void Readmit(string node)
    {
        if (_ignored.Remove(node))
        {
            // Its entries come back with its answer (and its heartbeats); it hears this node's in the same exchange.
            Publish(LocalEntries(), [], heartbeat: true, askBack: true);
        }
    }

    /// <summary>Tells the receivers of every change, and the other nodes of this node's own.</summary>
    private void Apply(IReadOnlyList<PresenceEvent> events)
    {
        if (events.Count == 0)
        {
            EnsureTicking();
            return;
        }

        foreach (var change in events)
        {
            var frame = PresenceFrame.Of(change);
            foreach (var receiver in _receivers.Values)
            {
                if (!receiver.NeedsList && receiver.Client != change.Entry.Client && !receiver.Link.TryEnqueueEphemeral(frame))
                {
                    // The lane was full: this client's list is no longer right; a whole one follows once there is room.
                    receiver.NeedsList = true;
                }
            }
        }

        var own = events.Where(change => change.IsOf(_self)).ToList();
        if (own.Count > 0)
        {
            Publish(
                own.Where(change => change.Change != PresenceChange.Left).Select(change => change.Entry).ToList(),
                own.Where(change => change.Change == PresenceChange.Left).Select(change => change.Entry with { State = ReadOnlyMemory<byte>.Empty }).ToList(),
                heartbeat: false);
        }

        CountLocalPresent(_state.LocalPresent);
        EnsureTicking();
    }

    private void SendList(Receiver receiver, IReadOnlyList<PresenceEntry> list) =>
        receiver.NeedsList = !receiver.Link.TryEnqueueEphemeral(new PresentFrame(list));

    private void EnsureTicking()
    {
        if (!_ticking && (!_state.IsEmpty || _receivers.Values.Any(receiver => receiver.NeedsList)))
        {
            _ticking = true;
            Timers.StartPeriodicTimer(nameof(Tick), Tick.Instance, _settings.TickInterval);
        }
    }

    private List<PresenceEntry> LocalEntries() => _state.LocalEntries.ToList();

    private void Publish(IReadOnlyList<PresenceEntry> present, IReadOnlyList<PresenceEntry> left, bool heartbeat, bool askBack = false)
    {
        if (present.Count == 0 && left.Count == 0 && !askBack)
        {
            return;
        }

        if (present.Count == 0)
        {
            _mediator.Tell(new Publish(_document.PresenceTopic, new PresenceGossip(_document, _self, [], left) { Heartbeat = heartbeat, AskBack = askBack }));
            return;
        }

        foreach (var chunk in Chunks(present))
        {
            _mediator.Tell(new Publish(_document.PresenceTopic, new PresenceGossip(_document, _self, chunk, left) { Heartbeat = heartbeat, AskBack = askBack }));
            left = [];
        }
    }

    /// <summary>Entries in gossips of at most <see cref="MaxGossipBytes"/> (an entry's state is at most <c>MaxStateBytes</c>).</summary>
    private static IEnumerable<List<PresenceEntry>> Chunks(IReadOnlyList<PresenceEntry> entries)
    {
        var chunk = new List<PresenceEntry>();
        var bytes = 0;
        foreach (var entry in entries)
        {
            var size = entry.State.Length + entry.Client.Length + entry.User.Length + entry.Node.Length + 16;
            if (chunk.Count > 0 && bytes + size > MaxGossipBytes)
            {
                yield return chunk;
                chunk = [];
                bytes = 0;
            }

            chunk.Add(entry);
            bytes += size;
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    private void CountLocalPresent(int present)
    {
        RelayMetrics.AddPresentClients(present - _localPresent);
        _localPresent = present;
    }

    /// <summary>
    /// From a <c>relay.v1</c> connection of the document, once its hello is queued: it is a receiver of the list, and
    /// under <paramref name="Client"/> (newest <paramref name="Incarnation"/> wins) it may become present.
    /// </summary>
    public sealed record Connected(IActorRef Connection, ClientLink Link, string Client, string User, long Incarnation);

    /// <summary>The connection's client left (closed, or its socket died).</summary>
    public sealed record Disconnected(IActorRef Connection);

    /// <summary>The connection sets its presence state (a JSON object).</summary>
    public sealed record SetState(string Client, long Incarnation, ReadOnlyMemory<byte> State);

    /// <summary>The connection clears its presence state.</summary>
    public sealed record ClearState(string Client, long Incarnation);

    /// <summary>The connection sent a frame: it is alive.</summary>
    public sealed record Heard(string Client, long Incarnation);

    /// <summary>The connection's client broadcasts <paramref name="Payload"/> to the document's other clients (a frame, so it is heard too).</summary>
    public sealed record Broadcast(string Client, string User, long Incarnation, ReadOnlyMemory<byte> Payload, bool IsText);

    private sealed class Receiver(ClientLink link, string client, long incarnation)
    {
        public ClientLink Link { get; } = link;

        public string Client { get; } = client;

        public long Incarnation { get; } = incarnation;

        /// <summary>A presence frame for it was dropped: it gets a whole list next, and nothing before.</summary>
        public bool NeedsList { get; set; }
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }

    private sealed class SendHeartbeat
    {
        public static readonly SendHeartbeat Instance = new();
    }
}

/// <summary>Timings and limits of presence on a node (<c>Relay:Presence</c>).</summary>
/// <param name="Limits">The lease and the update rate.</param>
internal sealed record PresenceSettings(PresenceLimits Limits)
{
    /// <summary><c>Relay:Presence:MaxStateBytes</c>, which the Gateway checks; named in the hello.</summary>
    public int MaxStateBytes { get; init; }

    /// <summary>What the hello tells a client of these limits.</summary>
    public Connections.PresenceLimitsHello Hello =>
        new((int)Limits.Timeout.TotalSeconds, MaxStateBytes, Limits.MaxUpdatesPerSecond);

    /// <summary>How often this node announces its whole list: three times per timeout, so one lost heartbeat expires nothing.</summary>
    public TimeSpan HeartbeatInterval => Limits.Timeout / 3;

    /// <summary>How often coalesced updates, leases and expiries are looked at.</summary>
    public TimeSpan TickInterval => TimeSpan.FromMilliseconds(Math.Clamp(Limits.Timeout.TotalMilliseconds / 10, 20, 200));

    /// <summary>Incarnations of this process's connections: times of connection, strictly increasing, so a later connection under a name wins on any node.</summary>
    public static long NextIncarnation()
    {
        while (true)
        {
            var last = Interlocked.Read(ref _lastIncarnation);
            var next = Math.Max(last + 1, DateTime.UtcNow.Ticks);
            if (Interlocked.CompareExchange(ref _lastIncarnation, next, last) == last)
            {
                return next;
            }
        }
    }

    private static long _lastIncarnation;
}
