#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.History;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Relay.Actors.Presence;

namespace Relay.Actors.Fanout;

/// <summary>
/// The node's hub of one open document: the node's one subscriber to the document's topic and the parent of
/// the document's connections on this node. It hands them the document's patches in order and without gaps:
/// when the topic loses one (delivery is at most once), the hub alone reads it from the journal, once for the
/// whole node, and hands it on. A connection joins at the hub's head: it reads the journal up to there and
/// gets everything after from the hub. The hub exists while the node has connections to the document (the
/// default document's hub always), subscribed only as long as it exists.
/// </summary>
internal sealed class DocumentHubActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DocumentName _document;
    private readonly IActorRef _mediator;
    private readonly IActorRef _sequencers;
    private readonly HistoryReader _reader;
    private readonly HubSettings _settings;
    private readonly NodeStatus? _status;
    private readonly HashSet<IActorRef> _connections = new();
    private readonly List<IActorRef> _waitingForHead = new();

    // The patches handed on while handling the current message, sent to the connections together at its end (SendRun).
    private readonly List<ConnectionActor.LivePatch> _run = new();

    // Live patches past a gap, held until the journal fills it; bounded in count and bytes, past that they are read
    // from the journal.
    private readonly HeldPatches _held;
    private readonly ReplayWindow _window;
    private ActorMaterializer? _materializer;

    // The latest patches handed on, for joiners whose history lies in them (Relay:Replay:TailBytesPerDocument); null: off.
    private readonly ReplayTail? _tail;

    // The last sequence number handed to the connections (or the end of a hole in the journal skipped after it):
    // every patch up to it is journaled. -1 until the sequencer has named the document's head.
    private long _head = -1;
    private long _latestKnown;
    private long _epoch;
    private long _trimmedThrough;

    // Counts the histories this hub served (see Reset): a journal read asked for under an earlier one is dropped.
    private int _generation;
    private bool _reading;
    private long _lastHeardTicks;
    private int _opened;

    // Compaction: the snapshot the sequencer says joiners start from (0: none, they replay the history), the one
    // loaded (by a child) from the snapshot store and shared by every joiner on this node, and the joiners waiting for it.
    private long _joinSnapshot;
    private JoinSnapshot? _snapshot;
    private long _loadingSnapshot;
    private readonly List<IActorRef> _waitingForSnapshot = new();
    private IActorRef? _snapshotLoader;

    // The document's presence on this node (its child, Relay:Presence:Enabled); null with presence off.
    private DocumentPresence? _presence;

    /// <summary>Creates the hub of <paramref name="document"/>.</summary>
    /// <param name="document">The document.</param>
    /// <param name="mediator">The DistributedPubSub mediator.</param>
    /// <param name="sequencers">Where <see cref="OpenDocument"/> reaches the document's sequencer.</param>
    /// <param name="reader">Reads the history, for gaps.</param>
    /// <param name="settings">Timings and limits.</param>
    /// <param name="status">The node's status, for the default document's hub only (readiness watches it).</param>
    public DocumentHubActor(DocumentName document, IActorRef mediator, IActorRef sequencers, HistoryReader reader, HubSettings settings, NodeStatus? status)
    {
        _document = document;
        _mediator = mediator;
        _sequencers = sequencers;
        _reader = reader;
        _window = reader.NewWindow();
        _settings = settings;
        _held = new HeldPatches(settings.Held);
        _tail = settings.Tail is { } tail ? new ReplayTail(tail) : null;
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
        Receive<DocumentOpened>(opened => OnHeadKnown(opened.LastSequence, opened.Epoch, opened.JoinSnapshot, opened.TrimmedThrough));
        Receive<HistoryHeartbeat>(heartbeat =>
        {
            _status?.ObserveHeartbeat(heartbeat.LastSequence);
            OnHeadKnown(heartbeat.LastSequence, heartbeat.Epoch, heartbeat.JoinSnapshot, heartbeat.TrimmedThrough);
        });
        Receive<JoinSnapshotLoaderActor.Loaded>(OnSnapshotLoaded);
        Receive<JoinSnapshotLoaderActor.LoadFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Loading the snapshot of {Document} at {Sequence} failed; retrying", _document, _loadingSnapshot);
            _loadingSnapshot = 0;
            Timers.StartSingleTimer(nameof(RetrySnapshot), RetrySnapshot.Instance, TimeSpan.FromMilliseconds(500));
        });
        Receive<RetrySnapshot>(_ => LoadSnapshotIfDue());
        Receive<PatchAppended>(patch =>
        {
            OnLive(patch);
            SendRun();
        });
        Receive<PatchesAppended>(patches =>
        {
            foreach (var patch in patches.Patches)
            {
                OnLive(patch);
            }

            SendRun();
        });
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
        Receive<GapRead>(read => read.Generation == _generation, read =>
        {
            OnGapRead(read);
            SendRun();
        });
        Receive<GapRead>(_ => { });
        Receive<GapReadFailed>(failed => failed.Generation != _generation, _ => { });
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
                ConnectionActor.Props(_document, open.ConnectionId, open.Link, _sequencers, _reader, open.Settings, open.Protocol, _presence),
                "connection-" + open.ConnectionId);
            Context.Watch(connection);
            _connections.Add(connection);
            if (_head >= 0)
            {
                JoinConnection(connection);
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
            _waitingForSnapshot.Remove(terminated.ActorRef);
            if (_connections.Count == 0 && !_document.IsDefault)
            {
                Context.Parent.Tell(new DocumentHubsActor.HubIdle(_document, _opened));
            }
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the hub of <paramref name="document"/>.</summary>
    public static Props Props(DocumentName document, IActorRef mediator, IActorRef sequencers, HistoryReader reader, HubSettings settings, NodeStatus? status) =>
        Akka.Actor.Props.Create(() => new DocumentHubActor(document, mediator, sequencers, reader, settings, status));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _mediator.Tell(new Subscribe(_document.Topic, Self));
        if (_settings.Presence is { } presence)
        {
            _presence = new DocumentPresence(Context.ActorOf(PresenceActor.Props(_document, _mediator, presence), "presence"), presence);
        }
    }

    /// <inheritdoc />
    protected override void PostStop() => _tail?.Clear();

    // How far the journal may lack the history: trimmed, or (DeleteCompacted) before the snapshot joins start after.
    private long JournalLacksThrough => Math.Max(_trimmedThrough, _settings.HistoryDeleted ? _joinSnapshot : 0);

    // No Unsubscribe when stopping: the topic watches its subscribers and drops a stopped one, and an Unsubscribe
    // would only have its acknowledgement arrive as a dead letter.

    private void OpenDocument() => _sequencers.Tell(new OpenDocument(_document));

    private void OnHeadKnown(long lastSequence, long epoch, long joinSnapshot, long trimmedThrough)
    {
        _lastHeardTicks = Environment.TickCount64;
        if (epoch != 0 && _epoch != 0 && epoch != _epoch && _head > 0)
        {
            Reset(epoch);
        }

        _joinSnapshot = joinSnapshot;
        _trimmedThrough = trimmedThrough;

        // What the journal no longer has, the tail must not serve either: trimmed, or (DeleteCompacted) before the
        // snapshot every join and resume starts after.
        _tail?.DropThrough(JournalLacksThrough);
        if (joinSnapshot == 0 || (epoch != 0 && _epoch != 0 && epoch != _epoch))
        {
            // The document is no longer compactable (or never was), or its history was replaced: joiners replay the
            // history, or wait for the new history's snapshot.
            _snapshot = null;
        }

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
            _tail?.StartAt(_head);
            _tail?.DropThrough(JournalLacksThrough);
            foreach (var connection in _waitingForHead)
            {
                JoinConnection(connection);
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

        SendRun();
    }

    /// <summary>
    /// The sequencer names another history than the one this hub served (deleted by the server API, or the journal
    /// replaced): every connection of it is closed, so that its client comes back to the new history (a <c>relay.v1</c>
    /// client sees the new epoch and starts over), and the hub starts again at the new history's head.
    /// </summary>
    private void Reset(long epoch)
    {
        _log.Info("The history of {Document} was replaced (epoch {Old:x16} at {Head}, now {New:x16}): closing its {Count} connections on this node", _document, _epoch, _head, epoch, _connections.Count);
        foreach (var connection in _connections)
        {
            connection.Tell(ConnectionActor.HistoryReplaced.Instance);
        }

        _waitingForHead.Clear();
        _waitingForSnapshot.Clear();
        _run.Clear();
        _held.TakeAll();
        _tail?.Clear();
        _generation++;
        if (_snapshotLoader is { } loader)
        {
            // A snapshot it still loads is the old history's: its answer, from a loader no longer this hub's, is dropped.
            Context.Stop(loader);
            _snapshotLoader = null;
        }

        _reading = false;
        _head = -1;
        _latestKnown = 0;
        _snapshot = null;
        _loadingSnapshot = 0;
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
        if (!_held.TryHold(patch))
        {
            // The journal has all those held before: hold on from this one.
            _held.TryHold(patch);
        }
    }

    /// <summary>
    /// Hands <paramref name="patch"/> on: onto the run this message handed on, which <see cref="SendRun"/> sends to every
    /// connection as one message once the message is handled. <paramref name="atOnce"/>: one of a run handed on together after a
    /// gap (read from the journal, or held past it), which the clients never had the time to read one by one; a connection
    /// reads from the journal what of it does not fit in its client's queue, rather than closing a client that reads.
    /// </summary>
    private void HandOn(PatchAppended patch, bool atOnce = false)
    {
        _head = patch.Sequence;
        _status?.ObserveSequence(patch.Sequence);
        var live = new ConnectionActor.LivePatch(patch, atOnce);
        _run.Add(live);
        _tail?.Add(patch, live.Frame);
        LoadSnapshotIfDue();
    }

    /// <summary>
    /// Sends the patches handed on while handling this message to every connection, as one message: a commit's worth of
    /// patches costs each connection one message, not one per patch. Called at the end of every handler that hands on,
    /// so between messages the run is empty and a connection joins at a head whose later patches all reach it.
    /// </summary>
    private void SendRun()
    {
        if (_run.Count == 0)
        {
            return;
        }

        object message = _run.Count == 1 ? _run[0] : new ConnectionActor.LivePatches(_run.ToArray());
        _run.Clear();
        foreach (var connection in _connections)
        {
            connection.Tell(message);
        }
    }

    /// <summary>
    /// Joins a connection at the hub's head: from the snapshot the sequencer names, when there is one (loaded once for
    /// every joiner on this node), else from the start of the history.
    /// </summary>
    private void JoinConnection(IActorRef connection)
    {
        if (_joinSnapshot == 0)
        {
            connection.Tell(new ConnectionActor.Join(_head, _epoch) { Tail = TailView() });
            return;
        }

        if (_snapshot is { } snapshot && snapshot.Sequence >= _joinSnapshot)
        {
            connection.Tell(new ConnectionActor.Join(_head, _epoch, Trimmed(snapshot)) { Tail = TailView() });
            return;
        }

        _waitingForSnapshot.Add(connection);
        LoadSnapshotIfDue();
    }

    // The tail as a joiner gets it: everything it holds, up to the head the join names.
    private ReplayTailView? TailView() => _tail is { Started: true } tail && tail.Through == _head ? tail.View() : null;

    // The snapshot as a joiner gets it: with how far the journal is trimmed now, which may have moved since it loaded.
    private JoinSnapshot Trimmed(JoinSnapshot snapshot) => snapshot with { TrimmedThrough = _trimmedThrough };

    private void LoadSnapshotIfDue()
    {
        // A snapshot is served only at or below the head, so the live patches after it come from this hub.
        if (_loadingSnapshot != 0 || _waitingForSnapshot.Count == 0 || _joinSnapshot == 0 || _head < _joinSnapshot)
        {
            return;
        }

        _loadingSnapshot = _joinSnapshot;
        _snapshotLoader ??= Context.ActorOf(JoinSnapshotLoaderActor.Props(_document, _settings.HistoryDeleted), "join-snapshot");
        _snapshotLoader.Tell(new JoinSnapshotLoaderActor.Load(_joinSnapshot));
    }

    private void OnSnapshotLoaded(JoinSnapshotLoaderActor.Loaded result)
    {
        if (!Sender.Equals(_snapshotLoader))
        {
            return;
        }

        var asked = _loadingSnapshot;
        _loadingSnapshot = 0;
        if (result.Snapshot is { } loaded && loaded.Sequence <= _head)
        {
            _snapshot = loaded;
        }
        else if (_joinSnapshot != asked)
        {
            // A newer snapshot replaced the one asked for while it loaded: load that one.
            LoadSnapshotIfDue();
            return;
        }
        else
        {
            _log.Warning("The snapshot of {Document} at {Sequence} was not found; its joiners replay the history", _document, asked);
        }

        foreach (var connection in _waitingForSnapshot)
        {
            connection.Tell(new ConnectionActor.Join(_head, _epoch, _snapshot is { } snapshot ? Trimmed(snapshot) : null) { Tail = TailView() });
        }

        _waitingForSnapshot.Clear();
    }

    private void DeliverHeld()
    {
        while (_held.TryTakeFirst(_head + 1, out var patch))
        {
            if (patch.Sequence == _head + 1)
            {
                HandOn(patch, atOnce: true);
            }
        }
    }

    private void FillGap()
    {
        if (_reading || _head < 0 || _latestKnown <= _head)
        {
            return;
        }

        // Up to the first held patch, or to the latest sequence the sequencer announced; one window of it per round.
        var to = _held.Count > 0 ? _held.First - 1 : _latestKnown;
        if (to <= _head)
        {
            DeliverHeld();
            return;
        }

        _reading = true;
        var generation = _generation;
        _reader.ReadWindowAsync(_document, _window, _head + 1, to, Math.Max(to, _latestKnown), _materializer ??= Context.Materializer())
            .PipeTo(Self, success: window => new GapRead(window, generation), failure: cause => new GapReadFailed(cause, generation));
    }

    private void OnGapRead(GapRead read)
    {
        _reading = false;
        var progressed = read.Window.ReadThrough > _head;
        foreach (var patch in read.Window.Patches)
        {
            // In order, and contiguous except across a hole of the journal the reader skipped.
            if (patch.Sequence > _head)
            {
                HandOn(patch, atOnce: true);
            }
        }

        _head = Math.Max(_head, read.Window.ReadThrough);
        _tail?.CoverThrough(_head);
        DeliverHeld();
        LoadSnapshotIfDue();
        if (!progressed)
        {
            // The rows are still being committed (the topic can be faster than the journal's readers), or a gap
            // has not lasted long enough to be skipped as a hole: look again shortly.
            Timers.StartSingleTimer(nameof(RetryGap), RetryGap.Instance, TimeSpan.FromMilliseconds(50));
            return;
        }

        FillGap();
    }

    /// <summary>Opens a connection of the client behind <paramref name="Link"/>; answered with <see cref="ConnectionOpened"/>.</summary>
    public sealed record OpenConnection(string ConnectionId, ClientLink Link, ConnectionSettings Settings, ClientProtocol? Protocol = null);

    /// <summary>The connection actor of an opened connection.</summary>
    public sealed record ConnectionOpened(IActorRef Connection);

    private sealed record GapRead(HistoryWindow Window, int Generation);

    private sealed record GapReadFailed(Exception Cause, int Generation);

    private sealed class CheckSequencer
    {
        public static readonly CheckSequencer Instance = new();
    }

    private sealed class RetryGap
    {
        public static readonly RetryGap Instance = new();
    }

    private sealed class RetrySnapshot
    {
        public static readonly RetrySnapshot Instance = new();
    }
}

/// <summary>Settings of the document hubs.</summary>
/// <param name="Held">Live patches held past a gap while the journal fills it; beyond, they are read from the journal too.</param>
/// <param name="ReopenAfter">How long the hub waits for the sequencer's answer (or, for the default document, its heartbeat) before asking again.</param>
internal sealed record HubSettings(HeldLimits Held, TimeSpan ReopenAfter)
{
    /// <summary><c>Relay:Compaction:DeleteCompacted</c>: the journal before a document's snapshot may be gone, so nobody resumes from there.</summary>
    public bool HistoryDeleted { get; init; }

    /// <summary>The latest patches each hub keeps for its joiners (<c>Relay:Replay:TailBytesPerDocument</c>, <c>TailBytesPerNode</c>); null: off.</summary>
    public TailLimits? Tail { get; init; }

    /// <summary>Presence of the document's clients (<c>Relay:Presence</c>); null: presence is off on this node.</summary>
    public PresenceSettings? Presence { get; init; }

    /// <summary>Defaults for production.</summary>
    public static readonly HubSettings Default = new(HeldLimits.Default, TimeSpan.FromSeconds(3));
}
