#nullable enable
using System.Reflection;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Relay.Actors.Presence;

namespace Relay.Actors.Connections;

/// <summary>Settings of every connection.</summary>
/// <param name="Held">Live patches held while the connection reads the history; beyond, they are read from the journal instead.</param>
/// <param name="ResendAfter">An append not confirmed this long is sent again.</param>
/// <param name="ReplayStallTimeout">A client that reads nothing of its replay for this long is closed as a slow consumer.</param>
/// <param name="DrainTimeout">After the client left, how long its unconfirmed appends are still resent.</param>
/// <param name="UnavailableAfter">
/// When the sequencer has confirmed nothing of a waiting connection for this long (journal down, no
/// sequencer), the client is closed as <see cref="CloseReason.Unavailable"/> instead of being held indefinitely.
/// </param>
internal sealed record ConnectionSettings(
    HeldLimits Held,
    TimeSpan ResendAfter,
    TimeSpan ReplayStallTimeout,
    TimeSpan DrainTimeout,
    TimeSpan UnavailableAfter)
{
    /// <summary>Defaults for production: a journal outage of up to half a minute disconnects nobody.</summary>
    public static readonly ConnectionSettings Default = new(
        HeldLimits.Default, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
}

/// <summary>The document's presence on this node, as its connections reach it: its actor and the node's presence settings.</summary>
internal sealed record DocumentPresence(IActorRef Actor, PresenceSettings Settings);

/// <summary>
/// One client's connection to one document, a child of the document's hub on this node. A thin shell over
/// two protocols: <see cref="InboundState"/> (the client's frames to the sequencer, resent until confirmed) and
/// <see cref="OutboundState"/> (the history from the journal, then the hub's live patches, each sequence number
/// once and in order). An <see cref="UntypedActor"/> with lazily created parts: a node holds thousands of these,
/// mostly idle.
/// </summary>
internal sealed class ConnectionActor : UntypedActor, IWithTimers
{
    private static readonly TimeSpan ReadAgainDelay = TimeSpan.FromMilliseconds(50);

    private readonly DocumentName _document;
    private readonly string _connectionId;
    private readonly ClientLink _link;
    private readonly IActorRef _sequencers;
    private readonly HistoryReader _reader;
    private readonly ConnectionSettings _settings;
    private readonly ClientProtocol _protocol;
    private readonly string _origin;
    private readonly InboundState _inbound;
    private readonly OutboundState _outbound;

    // The document's presence on this node, for a relay.v1 client with presence on; null otherwise.
    private readonly DocumentPresence? _presence;
    private readonly long _incarnation;
    private bool _presenceConnected;
    private ClientPresence? _waitingPresence;
    private ILoggingAdapter? _log;

    // Created for a catch-up and shut down once the connection is live: each materializer is a child
    // actor, and an idle connection should not keep one.
    private ActorMaterializer? _materializer;
    private bool _draining;

    // The hub's tail as the join gave it, for the first catch-up: what lies in it is read from memory, not the
    // journal. Dropped once the connection is live.
    private ReplayTailView? _tail;
    private bool _joinCounted;

    // A named relay.v1 client's hello names the last id journaled under it: the sequencer's answer (a query sent at
    // start) and the hub's join, whichever comes second, start the connection.
    private bool _lastIdKnown;
    private long _lastId;
    private Join? _waitingJoin;
    private long _lastIdAskedMs;

    // When the connection started; cleared once its first replay of the history is recorded.
    private long _replayStartedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Creates the connection actor for the client behind <paramref name="link"/>.</summary>
    /// <param name="document">The document the client opened.</param>
    /// <param name="connectionId">Unique in the cluster.</param>
    /// <param name="link">The bridge to the client's reader and writer.</param>
    /// <param name="sequencers">Where the document's sequencer takes appends: the singleton proxy or the shard region.</param>
    /// <param name="reader">Reads the history from the journal.</param>
    /// <param name="settings">Limits and timings.</param>
    /// <param name="protocol">How the client speaks: raw frames or <c>relay.v1</c>.</param>
    /// <param name="presence">The document's presence on this node; null with presence off.</param>
    public ConnectionActor(
        DocumentName document,
        string connectionId,
        ClientLink link,
        IActorRef sequencers,
        HistoryReader reader,
        ConnectionSettings settings,
        ClientProtocol protocol,
        DocumentPresence? presence = null)
    {
        _presence = protocol is { Enveloped: true, PresenceId: not null, User: not null } ? presence : null;
        _incarnation = _presence is null ? 0 : PresenceSettings.NextIncarnation();
        _document = document;
        _connectionId = connectionId;
        _link = link;
        _sequencers = sequencers;
        _reader = reader;
        _settings = settings;
        _protocol = protocol;
        _origin = protocol.OriginFor(connectionId);
        _inbound = new InboundState(document, _origin, settings.ResendAfter, settings.UnavailableAfter);
        _outbound = new OutboundState(settings.Held);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// Props for a connection actor, made by a plain delegate: <c>Props.Create(() =&gt; new ...)</c> compiles a piece
    /// of its expression on every call, so every connection cost a new method for the JIT.
    /// </summary>
    public static Props Props(
        DocumentName document,
        string connectionId,
        ClientLink link,
        IActorRef sequencers,
        HistoryReader reader,
        ConnectionSettings settings,
        ClientProtocol? protocol = null,
        DocumentPresence? presence = null) =>
        Akka.Actor.Props.CreateBy(new Producer(() => new ConnectionActor(document, connectionId, link, sequencers, reader, settings, protocol ?? ClientProtocol.Raw, presence)))
            .WithMailbox(ConnectionMailbox.Id);

    /// <inheritdoc />
    protected override void PreStart()
    {
        _lastIdKnown = !_protocol.Enveloped || _protocol.ClientId is null;
        if (!_lastIdKnown)
        {
            AskLastId();
        }
    }

    /// <inheritdoc />
    protected override void PostStop() => _link.Close(CloseReason.Ended);

    private void AskLastId()
    {
        _lastIdAskedMs = _lastIdAskedMs == 0 ? Environment.TickCount64 : _lastIdAskedMs;
        _sequencers.Tell(new OpenDocument(_document) { Client = _origin });
        Timers.StartSingleTimer(nameof(AskLastIdAgain), AskLastIdAgain.Instance, _settings.ResendAfter);
    }

    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    /// <inheritdoc />
    protected override void OnReceive(object message)
    {
        if (_draining)
        {
            Drain(message);
            return;
        }

        switch (message)
        {
            case LivePatch live:
                OnLive(live);
                break;
            case LivePatches run:
                foreach (var live in run.Patches)
                {
                    if (_draining || _link.Closed.IsCompleted)
                    {
                        // Closed by one of them (or the client left): what follows would have met a closed connection.
                        break;
                    }

                    OnLive(live);
                }

                break;
            case ClientFrame frame:
                HandleClientFrame(frame);
                break;
            case ClientPresence set when _presence is not null && !_presenceConnected:
                // Sent before its hello went out: the presence knows the connection only from then on; the latest waits.
                _waitingPresence = set;
                break;
            case ClientPresence set when _presence is { } presence:
                TellState(presence, set);
                break;
            case ClientBroadcast broadcast when _presence is { } presence:
                presence.Actor.Tell(new PresenceActor.Broadcast(_protocol.PresenceId!, _protocol.User!, _incarnation, broadcast.Payload, broadcast.IsText));
                break;
            case ClientPing when _presence is { } presence:
                presence.Actor.Tell(new PresenceActor.Heard(_protocol.PresenceId!, _incarnation));
                break;
            case ClientPresence or ClientBroadcast or ClientPing:
                // Presence is off (the Gateway refuses these frames then): nothing to do.
                break;
            case AppendPatchResponse confirmation:
                HandleConfirmation(confirmation);
                break;
            case Join join when !_lastIdKnown:
                _waitingJoin = join;
                break;
            case Join join:
                HandleJoin(join);
                break;
            case DocumentOpened opened when !_lastIdKnown:
                _lastIdKnown = true;
                _lastId = opened.ClientLastFrame;
                Timers.Cancel(nameof(AskLastIdAgain));
                if (_waitingJoin is { } waiting)
                {
                    _waitingJoin = null;
                    HandleJoin(waiting);
                }

                break;
            case DocumentOpened:
                break;
            case AskLastIdAgain when !_lastIdKnown:
                if (Environment.TickCount64 - _lastIdAskedMs >= _settings.UnavailableAfter.TotalMilliseconds)
                {
                    CloseAndStop(CloseReason.Unavailable);
                    break;
                }

                AskLastId();
                break;
            case AskLastIdAgain:
                break;
            case CatchUpCompleted completed:
                DeliverHeld(_outbound.OnReadCompleted(completed.ReadThrough));
                break;
            case CatchUpFailed failed when failed.Cause is SlowConsumerException:
                CloseAndStop(CloseReason.SlowConsumer);
                break;
            case CatchUpFailed failed:
                Log.Warning(failed.Cause, "Reading history of {Document} for connection {ConnectionId} failed; retrying", _document, _connectionId);
                Timers.StartSingleTimer(nameof(RetryCatchUp), RetryCatchUp.Instance, TimeSpan.FromMilliseconds(500));
                break;
            case RetryCatchUp:
                Run(OutboundStep.Read);
                break;
            case ResendTick:
                ResendIfStale();
                break;
            case ClientDisconnected:
                LeaveOrDrain();
                break;
            case HistoryReplaced:
                CloseAndStop(CloseReason.HistoryReplaced);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Drain(object message)
    {
        switch (message)
        {
            case AppendPatchResponse { Outcome: not AppendOutcome.Journaled } refused:
                // The client is gone: frames behind its last journaled one can never reach it now.
                Log.Info("Connection {ConnectionId} left with {Count} appends under a reused id ({Outcome}); none of them journaled", _connectionId, _inbound.Unconfirmed, refused.Outcome);
                Context.Stop(Self);
                break;
            case AppendPatchResponse confirmation:
                HandleConfirmation(confirmation);
                if (_inbound.Unconfirmed == 0)
                {
                    Context.Stop(Self);
                }

                break;
            case ResendTick:
                ResendIfStale();
                break;
            case DrainTimedOut:
                Log.Warning("Connection {ConnectionId} left with {Count} appends the sequencer never confirmed", _connectionId, _inbound.Unconfirmed);
                Context.Stop(Self);
                break;
        }
    }

    private void HandleJoin(Join join)
    {
        _tail = join.Tail;
        if (_protocol.Enveloped)
        {
            // The hello goes first; with a resume, the history before the client's last sequence number is skipped.
            var resumed = _protocol.CanResume(join.Head, join.Epoch) &&
                          (join.Snapshot is null || join.Snapshot.AllowsResumeAfter(_protocol.ResumeAfter!.Value));
            if (resumed)
            {
                _outbound.StartAfter(_protocol.ResumeAfter!.Value);
            }

            var hello = new HelloFrame(join.Head, join.Epoch, resumed)
            {
                LastId = _protocol.ClientId is null ? null : _lastId,
                Client = _presence is null ? null : _protocol.PresenceId,
                Presence = _presence?.Settings.Hello,
            };
            if (!_link.TryEnqueue(hello))
            {
                CloseAndStop(CloseReason.SlowConsumer);
                return;
            }

            if (_presence is { } presence && !_presenceConnected)
            {
                // After the hello is queued: the list the presence sends follows it.
                _presenceConnected = true;
                presence.Actor.Tell(new PresenceActor.Connected(Self, _link, _protocol.PresenceId!, _protocol.User!, _incarnation));
                if (_waitingPresence is { } waiting)
                {
                    _waitingPresence = null;
                    TellState(presence, waiting);
                }
            }

            if (resumed)
            {
                DeliverHeld(_outbound.Join(join.Head));
                return;
            }
        }

        if (join.Snapshot is { } snapshot && !StartFromSnapshot(snapshot))
        {
            return;
        }

        DeliverHeld(_outbound.Join(join.Head));
    }

    private void TellState(DocumentPresence presence, ClientPresence set) =>
        presence.Actor.Tell(set.State.IsEmpty
            ? new PresenceActor.ClearState(_protocol.PresenceId!, _incarnation)
            : new PresenceActor.SetState(_protocol.PresenceId!, _incarnation, set.State));

    /// <summary>Delivers the live patches held during a read (or before the join), then takes <paramref name="held"/>'s next step.</summary>
    private void DeliverHeld((IReadOnlyList<PatchAppended> Deliver, OutboundStep Next) held)
    {
        var (deliver, next) = held;
        foreach (var patch in deliver)
        {
            // The live patches held during the read come all at once, onto a queue the replay left near half its
            // limit: that they do not all fit says nothing of the client's reading. What does not fit is read
            // from the journal, back-pressured like the replay (whose stall timeout still closes a client that
            // reads nothing).
            if (_link.Closed.IsCompleted)
            {
                return;
            }

            if (!TryDeliver(patch))
            {
                next = _outbound.ReadFromJournal(patch.Sequence);
                break;
            }
        }

        if (!_link.Closed.IsCompleted)
        {
            Run(next);
        }
    }

    /// <summary>
    /// A full join of a compacted document: the snapshot as one patch that replaces the root, numbered with its sequence
    /// number; a <c>relay.v1</c> client whose patches it folded in gets one cumulative ack of its last one there
    /// (docs/protocol.md); then the history after it.
    /// </summary>
    private bool StartFromSnapshot(JoinSnapshot snapshot)
    {
        var sent = _link.TryEnqueue(new PatchFrame(snapshot.Patch, IsText: true, snapshot.Sequence)) &&
                   (!_protocol.Enveloped || !snapshot.Frames.TryGetValue(_origin, out var frame) ||
                    _link.TryEnqueue(new AckFrame(frame, snapshot.Sequence)));
        if (!sent)
        {
            CloseAndStop(CloseReason.SlowConsumer);
            return false;
        }

        _outbound.StartAfter(snapshot.Sequence);
        return true;
    }

    private void HandleClientFrame(ClientFrame frame)
    {
        var now = Environment.TickCount64;
        bool startsWaiting;
        AppendPatch? accepted = frame.Id > 0
            ? _inbound.Accept(frame.Payload, frame.IsText, frame.Id, frame.Credits, now, out startsWaiting)
            : _inbound.Accept(frame.Payload, frame.IsText, frame.Credits, now, out startsWaiting);
        if (accepted is not { } append)
        {
            _link.ReleaseCredits(frame.Credits);
            CloseAndStop(CloseReason.IdsOutOfOrder);
            return;
        }

        _presence?.Actor.Tell(new PresenceActor.Heard(_protocol.PresenceId!, _incarnation));
        if (startsWaiting)
        {
            // The resend timer runs only while something waits for confirmation: idle connections cost no timer.
            Timers.StartPeriodicTimer(nameof(ResendTick), ResendTick.Instance, _settings.ResendAfter / 2);
        }

        _sequencers.Tell(append);
    }

    private void HandleConfirmation(AppendPatchResponse confirmation)
    {
        switch (confirmation.Outcome)
        {
            case AppendOutcome.Conflict:
                CloseAndStop(CloseReason.IdReused);
                return;
            case AppendOutcome.Behind:
                _link.ReleaseCredits(_inbound.Behind(confirmation.FrameNo, confirmation.JournaledFrame, Environment.TickCount64));
                return;
        }

        var released = _inbound.Confirm(confirmation.FrameNo, Environment.TickCount64);
        if (released > 0)
        {
            _link.ReleaseCredits(released);
            if (_inbound.Unconfirmed == 0)
            {
                Timers.Cancel(nameof(ResendTick));
            }
        }
    }

    private void ResendIfStale()
    {
        var now = Environment.TickCount64;
        if (!_draining && _inbound.StoppedBehind(now))
        {
            CloseAndStop(CloseReason.IdReused);
            return;
        }

        var resend = _inbound.DueForResend(now);
        if (resend.Count == 0)
        {
            return;
        }

        if (!_draining && _inbound.IsUnavailable(now))
        {
            // Its frames stay queued for the sequencer while the actor drains; the client learns it should
            // back off, rather than silently no longer being read.
            CloseAndStop(CloseReason.Unavailable);
        }

        Log.Debug("Resending {Count} unconfirmed appends of connection {ConnectionId} from frame {FrameNo}", resend.Count, _connectionId, resend[0].FrameNo);
        foreach (var append in resend)
        {
            _sequencers.Tell(append);
        }
    }

    private void OnLive(LivePatch live)
    {
        if (!_outbound.OnLive(live.Patch) || TryDeliver(live.Patch, live.Frame))
        {
            return;
        }

        if (live.HandedOnAtOnce)
        {
            // One of a run the hub handed on together after a gap: the client had no time to read them one by one,
            // so what does not fit is read from the journal at its pace instead of closing it.
            Run(_outbound.ReadFromJournal(live.Patch.Sequence));
            return;
        }

        CloseAndStop(CloseReason.SlowConsumer);
    }

    /// <summary>
    /// Queues what the client gets for <paramref name="patch"/>; false if the queue has no room for it. One of the
    /// client's own numbers journaled with another payload than the frame it sent under it and waits on is another
    /// writer's: the client is closed (<see cref="CloseReason.IdReused"/>) before it could take it for its own ack.
    /// </summary>
    private bool TryDeliver(PatchAppended patch, PatchFrame? shared = null)
    {
        if (_protocol.ClientId is not null && patch.OriginConnectionId == _origin &&
            _inbound.Contradicts(patch.FrameNo, patch.Payload.Span, patch.IsText))
        {
            CloseAndStop(CloseReason.IdReused);
            return true;
        }

        return FrameFor(patch, _origin, _protocol.Enveloped, shared) is not { } frame || _link.TryEnqueue(frame);
    }

    /// <summary>
    /// What the client gets for <paramref name="patch"/>: another's patch as it is (<paramref name="shared"/>, the
    /// frame the hub made once for every client of the node, when there is one); its own, nothing (raw) or an
    /// acknowledgement at the patch's place in the order (<c>relay.v1</c>), so that a client's sequence numbers
    /// never skip one and a patch resent after a reconnect learns the number it was journaled under.
    /// </summary>
    private static OutboundFrame? FrameFor(PatchAppended patch, string origin, bool enveloped, PatchFrame? shared = null)
    {
        if (patch.OriginConnectionId != origin)
        {
            return shared ?? PatchFrame.Of(patch);
        }

        return enveloped ? new AckFrame(patch.FrameNo, patch.Sequence) : null;
    }

    private void Run(OutboundStep step)
    {
        switch (step)
        {
            case OutboundStep.Read:
                StartCatchUp(_outbound.ReadFrom, _outbound.ReadTo);
                break;
            case OutboundStep.ReadAgainSoon:
                Timers.StartSingleTimer(nameof(RetryCatchUp), RetryCatchUp.Instance, ReadAgainDelay);
                break;
            case OutboundStep.None when !_outbound.CatchingUp:
                _materializer?.Shutdown();
                _materializer = null;
                _tail = null;
                RecordReplayDuration();
                break;
        }
    }

    private void StartCatchUp(long from, long to)
    {
        var link = _link;
        var origin = _origin;
        var enveloped = _protocol.Enveloped;
        var stallTimeout = _settings.ReplayStallTimeout;
        var tail = _tail is { } view && to >= view.First && from <= view.Through ? view : null;
        var journal = tail is null || from < tail.First || to > tail.Through;
        if (!_joinCounted)
        {
            _joinCounted = true;
            CountJoin(journal);
        }

        // The reader holds one window of the history at a time and reads the next only once this one is in the
        // client's queue, which is bounded: a client that lags holds the read back (the tail's patches wait the same
        // way). It hands out only gap-free runs (and skips known holes): a journal that shows a later row before an
        // earlier one commits ends this round early, and the next round reads on from there.
        // A materializer only for what the journal serves: a join whose history lies in the tail creates none.
        var materializer = journal ? _materializer ??= Context.Materializer() : null;
        PipeCatchUp(
            CatchUpAsync(_reader, _document, from, to, Math.Max(to, _outbound.LatestSeen), tail, DeliverTo(link, origin, enveloped, stallTimeout), materializer),
            Self);
    }

    private static Task PipeCatchUp(Task<long> catchUp, IActorRef connection) =>
        catchUp.PipeTo(connection, success: readThrough => new CatchUpCompleted(readThrough), failure: cause => new CatchUpFailed(cause));

    private static void CountJoin(bool journal, long count = 1) =>
        RelayMetrics.ReplayJoins.Add(count, new KeyValuePair<string, object?>("source", journal ? "journal" : "tail"));

    /// <summary>Queues what the client gets for each patch of a catch-up, waiting while its queue is half full; a client that reads nothing for <paramref name="stallTimeout"/> is a slow consumer.</summary>
    private static Func<PatchAppended, PatchFrame?, ValueTask> DeliverTo(ClientLink link, string origin, bool enveloped, TimeSpan stallTimeout) =>
        async (patch, shared) =>
        {
            if (FrameFor(patch, origin, enveloped, shared) is { } frame &&
                !await link.EnqueueAsync(frame, stallTimeout).ConfigureAwait(false))
            {
                throw new SlowConsumerException();
            }
        };

    /// <summary>
    /// Runs a catch-up from a replay tail once, so that a node's first joiner served from a tail does not wait for its
    /// path to be compiled (start-up warm-up; the shipped JIT compiles each method fully on its first call): 64 patches
    /// of its own into a link that holds one frame at a time, so the catch-up waits for room as a long one does, drained
    /// by a writer of its own, its end piped as a join's is. Also compiled here: the methods that start a catch-up (the
    /// JIT inlines some of them into this one, so the join's own call would compile them), and the join counter's
    /// lookup of a labelled series, whose two series (tail, journal) start at 0. Left to the first join, these took a
    /// node's first tail join about 25 ms to its first frame against 2 to 5 ms for the next.
    /// </summary>
    internal static async Task WarmUpTailCatchUpAsync()
    {
        // Twice: the first adds each series, the second finds it.
        for (var i = 0; i < 2; i++)
        {
            CountJoin(journal: false, count: 0);
            CountJoin(journal: true, count: 0);
        }

        foreach (var name in new[] { nameof(StartCatchUp), nameof(DeliverTo), nameof(CatchUpAsync) })
        {
            RuntimeHelpers.PrepareMethod(typeof(ConnectionActor).GetMethod(name, BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static)!.MethodHandle);
        }

        const int patches = 64;
        var tail = new ReplayTail(new TailLimits(1024 * 1024, new ReplayTailBudget(1024 * 1024)));
        tail.StartAt(0);
        for (var sequence = 1; sequence <= patches; sequence++)
        {
            var patch = new PatchAppended(sequence, "relay-warm-up", sequence, "[]"u8.ToArray(), IsText: true);
            tail.Add(patch, PatchFrame.Of(patch));
        }

        var link = new ClientLink(maxOutboundBytes: 1, 1, 1024 * 1024);
        var writer = Task.Run(async () =>
        {
            while (await link.WaitToReadAsync())
            {
                while (link.TryRead(out var frame))
                {
                    link.OnSent(frame);
                }
            }
        });
        var catchUp = CatchUpAsync(null!, DocumentName.Default, 1, patches, patches, tail.View(), DeliverTo(link, "relay-warm-up-reader", enveloped: false, TimeSpan.FromSeconds(5)), null);
        await PipeCatchUp(catchUp, ActorRefs.Nobody);
        await catchUp;
        link.Close(CloseReason.Ended);
        await writer;
    }

    /// <summary>
    /// Reads <paramref name="from"/> to <paramref name="to"/>: from the journal before the tail, from the tail what lies in
    /// it (every patch the journal has there, in order), from the journal after it. Returns the last sequence number
    /// read through; a journal read that makes no progress ends the round there, as a read of the journal alone does.
    /// </summary>
    private static async Task<long> CatchUpAsync(
        HistoryReader reader,
        DocumentName document,
        long from,
        long to,
        long seeTo,
        ReplayTailView? tail,
        Func<PatchAppended, PatchFrame?, ValueTask> deliver,
        IMaterializer? materializer)
    {
        if (tail is null)
        {
            return await reader.ReadAsync(document, from, to, seeTo, patch => deliver(patch, null), materializer!).ConfigureAwait(false);
        }

        var next = from;
        if (next < tail.First)
        {
            var end = Math.Min(to, tail.First - 1);
            var through = await reader.ReadAsync(document, next, end, seeTo, patch => deliver(patch, null), materializer!).ConfigureAwait(false);
            if (through < end || end == to)
            {
                return through;
            }

            next = through + 1;
        }

        var last = Math.Min(to, tail.Through);
        var first = tail.IndexOf(next);
        for (var i = first; i < tail.Count; i++)
        {
            var entry = tail[i];
            if (entry.Patch.Sequence > last)
            {
                break;
            }

            await deliver(entry.Patch, entry.Frame).ConfigureAwait(false);
            if (i == first)
            {
                // The rest queues without waiting until the queue is half full: let the client's writer send the first
                // frame now rather than after tens of thousands more are queued on this thread.
                await Task.Yield();
            }
        }

        next = last + 1;
        return next > to
            ? to
            : await reader.ReadAsync(document, next, to, seeTo, patch => deliver(patch, null), materializer!).ConfigureAwait(false);
    }

    private void RecordReplayDuration()
    {
        if (_replayStartedTimestamp != 0)
        {
            RelayMetrics.ReplayDuration.Record(RelayMetrics.SecondsSince(_replayStartedTimestamp));
            _replayStartedTimestamp = 0;
        }
    }

    private void LeaveOrDrain()
    {
        if (_presenceConnected)
        {
            // The client is gone: it leaves the list now, even while its last patches still wait for the journal.
            _presenceConnected = false;
            _presence!.Actor.Tell(new PresenceActor.Disconnected(Self));
        }

        if (_inbound.Unconfirmed == 0)
        {
            Context.Stop(Self);
            return;
        }

        _draining = true;
        Timers.StartSingleTimer(nameof(DrainTimedOut), DrainTimedOut.Instance, _settings.DrainTimeout);
    }

    private void CloseAndStop(CloseReason reason)
    {
        Log.Info("Closing connection {ConnectionId}: {Reason}", _connectionId, reason);
        _link.Close(reason);
        LeaveOrDrain();
    }

    /// <summary>
    /// A complete frame the client sent, holding <paramref name="Credits"/> of the link's credits until the sequencer
    /// confirms it. <paramref name="Id"/>: the patch id a <c>relay.v1</c> client gave it; 0 for a raw client's frame,
    /// which the connection numbers itself.
    /// </summary>
    public sealed record ClientFrame(ReadOnlyMemory<byte> Payload, bool IsText, long Id, int Credits);

    /// <summary>The client sets its presence state (a JSON object the Gateway checked); empty: it clears it.</summary>
    public sealed record ClientPresence(ReadOnlyMemory<byte> State);

    /// <summary>The client broadcasts <paramref name="Payload"/> to the document's other <c>relay.v1</c> clients.</summary>
    public sealed record ClientBroadcast(ReadOnlyMemory<byte> Payload, bool IsText);

    /// <summary>The client's sign of life (<c>{"type":"ping"}</c>).</summary>
    public sealed record ClientPing
    {
        /// <summary>The one instance.</summary>
        public static readonly ClientPing Instance = new();

        private ClientPing()
        {
        }
    }

    /// <summary>The client is gone.</summary>
    public sealed record ClientDisconnected
    {
        /// <summary>The one instance.</summary>
        public static readonly ClientDisconnected Instance = new();

        private ClientDisconnected()
        {
        }
    }

    /// <summary>From the document's hub: the history this connection joined is gone (deleted, or replaced); close the client.</summary>
    public sealed record HistoryReplaced
    {
        /// <summary>The one instance.</summary>
        public static readonly HistoryReplaced Instance = new();

        private HistoryReplaced()
        {
        }
    }

    /// <summary>
    /// From the document's hub: everything up to <paramref name="Head"/> is journaled; every later patch comes
    /// from the hub, in order and without gaps. <paramref name="Epoch"/> names the history. <paramref name="Snapshot"/>:
    /// with compaction, where a full join starts instead of the history's beginning.
    /// </summary>
    public sealed record Join(long Head, long Epoch = 0, JoinSnapshot? Snapshot = null)
    {
        /// <summary>The hub's tail, through the join's head: what the connection reads from memory instead of the journal; null: none.</summary>
        public ReplayTailView? Tail { get; init; }
    }

    /// <summary>
    /// From the document's hub: the next live patch, in order and without gaps, with <paramref name="Frame"/>, made once
    /// for every client of the node that gets it. <paramref name="HandedOnAtOnce"/>: one of a run the hub hands on
    /// together after a gap of the topic (read from the journal, or held past the gap).
    /// </summary>
    public sealed record LivePatch(PatchAppended Patch, PatchFrame Frame, bool HandedOnAtOnce = false)
    {
        /// <summary>The live patch <paramref name="patch"/>, with its frame.</summary>
        public LivePatch(PatchAppended patch, bool handedOnAtOnce = false)
            : this(patch, PatchFrame.Of(patch), handedOnAtOnce)
        {
        }
    }

    /// <summary>From the document's hub: the next live patches, in order and without gaps, handed on together (one commit's worth).</summary>
    public sealed record LivePatches(IReadOnlyList<LivePatch> Patches);

    private sealed class Producer(Func<ConnectionActor> create) : IIndirectActorProducer
    {
        public Type ActorType => typeof(ConnectionActor);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }

    private sealed record CatchUpCompleted(long ReadThrough);

    private sealed record CatchUpFailed(Exception Cause);

    private sealed class ResendTick
    {
        public static readonly ResendTick Instance = new();
    }

    private sealed class AskLastIdAgain
    {
        public static readonly AskLastIdAgain Instance = new();
    }

    private sealed class RetryCatchUp
    {
        public static readonly RetryCatchUp Instance = new();
    }

    private sealed class DrainTimedOut
    {
        public static readonly DrainTimedOut Instance = new();
    }

    private sealed class SlowConsumerException : Exception
    {
        public SlowConsumerException() : base("the client did not read its replay")
        {
        }
    }
}
