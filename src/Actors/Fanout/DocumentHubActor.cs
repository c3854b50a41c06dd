#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Fanout;

/// <summary>
/// The node's hub of one open document: the node's one subscriber to the document's topic and the parent of
/// the document's connections on this node. It hands them the document's patches in order and without gaps:
/// when the topic loses one (delivery is at most once), the hub alone reads it from the journal, once for the
/// whole node, and hands it on. A connection joins at the hub's head: it reads the journal up to there and
/// gets everything after from the hub. The hub exists while the node has connections to the document (the
/// default document's hub always), subscribed only as long as it exists.
/// </summary>
public sealed class DocumentHubActor : ReceiveActor, IWithTimers
{
    // Patches read from the journal per gap-filling round.
    private const int MaxGapRead = 1000;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DocumentName _document;
    private readonly IActorRef _mediator;
    private readonly IActorRef _sequencers;
    private readonly IPatchJournal _journal;
    private readonly HubSettings _settings;
    private readonly NodeStatus? _status;
    private readonly HashSet<IActorRef> _connections = new();
    private readonly List<IActorRef> _waitingForHead = new();

    // Live patches past a gap, held until the journal fills it; bounded, past that they are read from the journal.
    private readonly SortedDictionary<long, PatchAppended> _held = new();
    private ActorMaterializer? _materializer;

    // The last sequence number handed to the connections: every patch up to it is journaled. -1 until the
    // sequencer has named the document's head.
    private long _head = -1;
    private long _latestKnown;
    private long _epoch;
    private bool _reading;
    private long _lastHeardTicks;
    private int _opened;

    /// <summary>Creates the hub of <paramref name="document"/>.</summary>
    /// <param name="document">The document.</param>
    /// <param name="mediator">The DistributedPubSub mediator.</param>
    /// <param name="sequencers">Where <see cref="OpenDocument"/> reaches the document's sequencer.</param>
    /// <param name="journal">The read journal, for gaps.</param>
    /// <param name="settings">Timings and limits.</param>
    /// <param name="status">The node's status, for the default document's hub only (readiness watches it).</param>
    public DocumentHubActor(DocumentName document, IActorRef mediator, IActorRef sequencers, IPatchJournal journal, HubSettings settings, NodeStatus? status)
    {
        _document = document;
        _mediator = mediator;
        _sequencers = sequencers;
        _journal = journal;
        _settings = settings;
        _status = status;

        Receive<SubscribeAck>(_ =>
        {
            _log.Debug("Subscribed to topic {Topic}", _document.Topic);
            _status?.MarkSubscribed();
            OpenDocument();
            if (_head < 0 || _document.IsDefault)
            {
                Timers.StartPeriodicTimer(nameof(CheckSequencer), CheckSequencer.Instance, _settings.ReopenAfter);
            }
        });
        Receive<DocumentOpened>(opened => OnHeadKnown(opened.LastSequence, opened.Epoch));
        Receive<HistoryHeartbeat>(heartbeat =>
        {
            _status?.ObserveHeartbeat(heartbeat.LastSequence);
            OnHeadKnown(heartbeat.LastSequence, heartbeat.Epoch);
        });
        Receive<PatchAppended>(OnLive);
        Receive<CheckSequencer>(_ =>
        {
            // Until the head is known, and for the default document always, a silent sequencer is asked again:
            // a sequencer that stopped (journal failure, a node lost) starts anew on its next message.
            var silentFor = TimeSpan.FromMilliseconds(Environment.TickCount64 - _lastHeardTicks);
            if ((_head < 0 || _document.IsDefault) && silentFor >= _settings.ReopenAfter)
            {
                OpenDocument();
            }
        });
        Receive<GapRead>(OnGapRead);
        Receive<GapReadFailed>(failed =>
        {
            _reading = false;
            _log.Warning(failed.Cause, "Reading a gap of {Document} from the journal failed; retrying", _document);
            Timers.StartSingleTimer(nameof(RetryGap), RetryGap.Instance, TimeSpan.FromMilliseconds(500));
        });
        Receive<RetryGap>(_ => FillGap());
        Receive<OpenConnection>(open =>
        {
            _opened++;
            var connection = Context.ActorOf(
                ConnectionActor.Props(_document, open.ConnectionId, open.Link, _sequencers, _journal, open.Settings, open.Protocol),
                "connection-" + open.ConnectionId);
            Context.Watch(connection);
            _connections.Add(connection);
            if (_head >= 0)
            {
                connection.Tell(new ConnectionActor.Join(_head, _epoch));
            }
            else
            {
                _waitingForHead.Add(connection);
            }

            Sender.Tell(new ConnectionOpened(connection));
        });
        Receive<Terminated>(terminated =>
        {
            _connections.Remove(terminated.ActorRef);
            _waitingForHead.Remove(terminated.ActorRef);
            if (_connections.Count == 0 && !_document.IsDefault)
            {
                Context.Parent.Tell(new DocumentHubsActor.HubIdle(_document, _opened));
            }
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the hub of <paramref name="document"/>.</summary>
    public static Props Props(DocumentName document, IActorRef mediator, IActorRef sequencers, IPatchJournal journal, HubSettings settings, NodeStatus? status) =>
        Akka.Actor.Props.Create(() => new DocumentHubActor(document, mediator, sequencers, journal, settings, status));

    /// <inheritdoc />
    protected override void PreStart() => _mediator.Tell(new Subscribe(_document.Topic, Self));

    /// <inheritdoc />
    protected override void PostStop() => _mediator.Tell(new Unsubscribe(_document.Topic, Self));

    private void OpenDocument() => _sequencers.Tell(new OpenDocument(_document));

    private void OnHeadKnown(long lastSequence, long epoch)
    {
        _lastHeardTicks = Environment.TickCount64;
        if (epoch != 0)
        {
            // An empty history's epoch is the sequencer's pick until its first patch journals it; a sequencer
            // restarted before then picks another, and later joiners get that one.
            _epoch = epoch;
        }

        _latestKnown = Math.Max(_latestKnown, lastSequence);
        if (_head < 0)
        {
            // Everything up to the sequencer's head is journaled; the joiners read it from there.
            _head = lastSequence;
            foreach (var connection in _waitingForHead)
            {
                connection.Tell(new ConnectionActor.Join(_head, _epoch));
            }

            _waitingForHead.Clear();
            _status?.ObserveSequence(_head);
            if (!_document.IsDefault)
            {
                // Only the default document's hub keeps watching for a silent sequencer (readiness depends on it).
                Timers.Cancel(nameof(CheckSequencer));
            }

            DeliverHeld();
        }

        if (_latestKnown > _head)
        {
            FillGap();
        }
    }

    private void OnLive(PatchAppended patch)
    {
        _lastHeardTicks = Environment.TickCount64;
        _latestKnown = Math.Max(_latestKnown, patch.Sequence);
        if (_head >= 0 && patch.Sequence <= _head)
        {
            return;
        }

        if (_head >= 0 && patch.Sequence == _head + 1 && !_reading)
        {
            HandOn(patch);
            DeliverHeld();
            return;
        }

        Hold(patch);
        if (_head >= 0)
        {
            FillGap();
        }
    }

    private void Hold(PatchAppended patch)
    {
        if (_held.Count >= _settings.MaxHeld)
        {
            // The journal has them all.
            _held.Clear();
        }

        _held.TryAdd(patch.Sequence, patch);
    }

    private void HandOn(PatchAppended patch)
    {
        _head = patch.Sequence;
        _status?.ObserveSequence(patch.Sequence);
        foreach (var connection in _connections)
        {
            connection.Tell(patch);
        }
    }

    private void DeliverHeld()
    {
        while (_held.Count > 0)
        {
            var (sequence, patch) = _held.First();
            _held.Remove(sequence);
            if (sequence == _head + 1)
            {
                HandOn(patch);
            }
            else if (sequence > _head + 1)
            {
                _held[sequence] = patch;
                break;
            }
        }
    }

    private void FillGap()
    {
        if (_reading || _head < 0 || _latestKnown <= _head)
        {
            return;
        }

        // Up to the first held patch, or to the latest sequence the sequencer announced.
        var to = Math.Min(_held.Count > 0 ? _held.First().Key - 1 : _latestKnown, _head + MaxGapRead);
        if (to <= _head)
        {
            DeliverHeld();
            return;
        }

        _reading = true;
        var from = _head + 1;
        var expected = from;
        _journal.Read(_document, from, to)
            .TakeWhile(patch => patch.Sequence == expected++)
            .RunWith(Sink.Seq<PatchAppended>(), _materializer ??= Context.Materializer())
            .PipeTo(Self, success: patches => new GapRead(patches), failure: cause => new GapReadFailed(cause));
    }

    private void OnGapRead(GapRead read)
    {
        _reading = false;
        foreach (var patch in read.Patches)
        {
            if (patch.Sequence == _head + 1)
            {
                HandOn(patch);
            }
        }

        DeliverHeld();
        if (read.Patches.Count == 0)
        {
            // The rows are still being committed (the topic can be faster than the journal's readers): look again shortly.
            Timers.StartSingleTimer(nameof(RetryGap), RetryGap.Instance, TimeSpan.FromMilliseconds(50));
            return;
        }

        FillGap();
    }

    /// <summary>Opens a connection of the client behind <paramref name="Link"/>; answered with <see cref="ConnectionOpened"/>.</summary>
    public sealed record OpenConnection(string ConnectionId, ClientLink Link, ConnectionSettings Settings, ClientProtocol? Protocol = null);

    /// <summary>The connection actor of an opened connection.</summary>
    public sealed record ConnectionOpened(IActorRef Connection);

    private sealed record GapRead(IReadOnlyList<PatchAppended> Patches);

    private sealed record GapReadFailed(Exception Cause);

    private sealed class CheckSequencer
    {
        public static readonly CheckSequencer Instance = new();
    }

    private sealed class RetryGap
    {
        public static readonly RetryGap Instance = new();
    }
}

/// <summary>Settings of the document hubs.</summary>
/// <param name="MaxHeld">Live patches held past a gap while the journal fills it; beyond, they are read from the journal too.</param>
/// <param name="ReopenAfter">How long the hub waits for the sequencer's answer (or, for the default document, its heartbeat) before asking again.</param>
public sealed record HubSettings(int MaxHeld, TimeSpan ReopenAfter)
{
    /// <summary>Defaults for production.</summary>
    public static readonly HubSettings Default = new(10_000, TimeSpan.FromSeconds(3));
}
