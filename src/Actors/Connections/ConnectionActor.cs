#nullable enable
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Diagnostics;
using Relay.Actors.Fanout;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Connections;

/// <summary>Settings of every connection.</summary>
/// <param name="MaxBufferedLive">Live patches held while the connection catches up from the journal; beyond, they are re-read from the journal.</param>
/// <param name="ResendAfter">An append not confirmed this long is sent again.</param>
/// <param name="ReplayStallTimeout">A client that reads nothing of its replay for this long is closed as a slow consumer.</param>
/// <param name="DrainTimeout">After the client left, how long its unconfirmed appends are still resent.</param>
/// <param name="UnavailableAfter">
/// When the sequencer has confirmed nothing of a waiting connection for this long (journal down, no
/// sequencer), the client is closed with 1013 "try again later" instead of being held indefinitely.
/// </param>
public sealed record ConnectionSettings(
    int MaxBufferedLive,
    TimeSpan ResendAfter,
    TimeSpan ReplayStallTimeout,
    TimeSpan DrainTimeout,
    TimeSpan UnavailableAfter)
{
    /// <summary>Defaults for production: a journal outage of up to half a minute disconnects nobody.</summary>
    public static readonly ConnectionSettings Default = new(
        10_000, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
}

/// <summary>
/// One client's connection. It sends the client's frames, in order, to the sequencer and resends them
/// until they are confirmed; it gives the client the history from the journal, then the live patches
/// of every other client, each sequence number exactly once and in order, filling any gap from the journal.
/// An <see cref="UntypedActor"/> with lazily created collections: a node holds thousands of these, mostly idle.
/// </summary>
public sealed class ConnectionActor : UntypedActor, IWithTimers
{
    // Replayed patches handed to the socket's queue per step while the journal reads ahead.
    private const int ReplayBatch = 512;

    private readonly string _connectionId;
    private readonly ClientLink _link;
    private readonly IActorRef _history;
    private readonly IActorRef _hub;
    private readonly IPatchJournal _journal;
    private readonly ConnectionSettings _settings;
    private Queue<AppendPatch>? _unconfirmed;
    private SortedDictionary<long, PatchAppended>? _buffered;
    private ILoggingAdapter? _log;

    // Created for a catch-up and shut down once the connection is live: each materializer is a child
    // actor, and an idle connection should not keep one.
    private ActorMaterializer? _materializer;
    private long _nextFrameNo = 1;
    private long _lastSentTicks;
    private long _lastProgressTicks;
    private long _nextSequence = 1;
    private long _knownLastSequence;
    private bool _catchingUp;
    private bool _bufferOverflowed;
    private bool _draining;

    // When the connection started; cleared once its first replay of the history is recorded.
    private long _replayStartedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Creates the connection actor for the client behind <paramref name="link"/>.</summary>
    public ConnectionActor(
        string connectionId,
        ClientLink link,
        IActorRef history,
        IActorRef hub,
        IPatchJournal journal,
        ConnectionSettings settings)
    {
        _connectionId = connectionId;
        _link = link;
        _history = history;
        _hub = hub;
        _journal = journal;
        _settings = settings;
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for a connection actor.</summary>
    public static Props Props(
        string connectionId,
        ClientLink link,
        IActorRef history,
        IActorRef hub,
        IPatchJournal journal,
        ConnectionSettings settings) =>
        Akka.Actor.Props.Create(() => new ConnectionActor(connectionId, link, history, hub, journal, settings))
            .WithMailbox(ConnectionMailbox.Id);

    /// <inheritdoc />
    protected override void PreStart()
    {
        _hub.Tell(new PatchHubActor.RegisterConnection(Self));
    }

    /// <inheritdoc />
    protected override void PostStop() => _link.Close(new CloseRequest(RelayCloseCodes.GoingAway, "connection ended"));

    private ILoggingAdapter Log => _log ??= Context.GetLogger();

    private int UnconfirmedCount => _unconfirmed?.Count ?? 0;

    private int BufferedCount => _buffered?.Count ?? 0;

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
            case PatchAppended patch:
                HandleLive(patch);
                break;
            case ClientFrame frame:
                HandleClientFrame(frame);
                break;
            case AppendPatchResponse confirmation:
                HandleConfirmation(confirmation);
                break;
            case HistoryHeartbeat heartbeat:
                _knownLastSequence = Math.Max(_knownLastSequence, heartbeat.LastSequence);
                if (!_catchingUp && _knownLastSequence >= _nextSequence)
                {
                    StartCatchUp();
                }

                break;
            case PatchHubActor.RegisterConnectionResponse registered:
                // Everything the hub saw before it registered us is journaled; everything after comes live.
                _knownLastSequence = Math.Max(_knownLastSequence, registered.LastSequence);
                if (_knownLastSequence >= _nextSequence || BufferedCount > 0)
                {
                    StartCatchUp();
                }
                else
                {
                    RecordReplayDuration();
                }

                break;
            case CatchUpCompleted completed:
                HandleCatchUpCompleted(completed);
                break;
            case CatchUpFailed failed when failed.Cause is SlowConsumerException:
                CloseAndStop(RelayCloseCodes.PolicyViolation, "slow consumer");
                break;
            case CatchUpFailed failed:
                Log.Warning(failed.Cause, "Reading history for connection {ConnectionId} failed; retrying", _connectionId);
                Timers.StartSingleTimer(nameof(RetryCatchUp), RetryCatchUp.Instance, TimeSpan.FromMilliseconds(500));
                break;
            case RetryCatchUp:
                StartCatchUp();
                break;
            case ResendTick:
                ResendIfStale();
                break;
            case ClientDisconnected:
                LeaveOrDrain();
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
            case AppendPatchResponse confirmation:
                HandleConfirmation(confirmation);
                if (UnconfirmedCount == 0)
                {
                    Context.Stop(Self);
                }

                break;
            case ResendTick:
                ResendIfStale();
                break;
            case DrainTimedOut:
                Log.Warning("Connection {ConnectionId} left with {Count} appends the sequencer never confirmed", _connectionId, UnconfirmedCount);
                Context.Stop(Self);
                break;
        }
    }

    private void HandleClientFrame(ClientFrame frame)
    {
        var frameNo = _nextFrameNo++;
        _unconfirmed ??= new Queue<AppendPatch>();
        var append = new AppendPatch(
            _connectionId,
            frameNo,
            _unconfirmed.Count == 0 ? frameNo : _unconfirmed.Peek().FrameNo,
            frame.Payload,
            frame.IsText);
        if (_unconfirmed.Count == 0)
        {
            // The resend timer runs only while something waits for confirmation: idle connections cost no timer.
            _lastSentTicks = Environment.TickCount64;
            _lastProgressTicks = _lastSentTicks;
            Timers.StartPeriodicTimer(nameof(ResendTick), ResendTick.Instance, _settings.ResendAfter / 2);
        }

        _unconfirmed.Enqueue(append);
        _history.Tell(append);
    }

    private void HandleConfirmation(AppendPatchResponse confirmation)
    {
        var released = 0;
        if (_unconfirmed is null)
        {
            return;
        }

        while (_unconfirmed.Count > 0 && _unconfirmed.Peek().FrameNo <= confirmation.FrameNo)
        {
            released += _link.CreditsFor(_unconfirmed.Dequeue().Payload.Length);
        }

        if (released > 0)
        {
            _lastSentTicks = Environment.TickCount64;
            _lastProgressTicks = _lastSentTicks;
            _link.ReleaseCredits(released);
            if (_unconfirmed.Count == 0)
            {
                Timers.Cancel(nameof(ResendTick));
            }
        }
    }

    private void ResendIfStale()
    {
        if (_unconfirmed is null || _unconfirmed.Count == 0 || Environment.TickCount64 - _lastSentTicks < _settings.ResendAfter.TotalMilliseconds)
        {
            return;
        }

        if (!_draining && Environment.TickCount64 - _lastProgressTicks >= _settings.UnavailableAfter.TotalMilliseconds)
        {
            // Its frames stay queued for the sequencer while the actor drains; the client learns it should
            // back off, rather than having its socket silently stop being read.
            CloseAndStop(RelayCloseCodes.TryAgainLater, "history unavailable, try again later");
        }

        // The sequencer takes a connection's frames only in order, so everything unconfirmed goes again, in order.
        var first = _unconfirmed.Peek().FrameNo;
        Log.Debug("Resending {Count} unconfirmed appends of connection {ConnectionId} from frame {FrameNo}", _unconfirmed.Count, _connectionId, first);
        foreach (var append in _unconfirmed)
        {
            _history.Tell(append with { FirstUnconfirmed = first });
        }

        _lastSentTicks = Environment.TickCount64;
    }

    private void HandleLive(PatchAppended patch)
    {
        _knownLastSequence = Math.Max(_knownLastSequence, patch.Sequence);
        if (patch.Sequence < _nextSequence)
        {
            return;
        }

        if (!_catchingUp && patch.Sequence == _nextSequence)
        {
            Deliver(patch);
            return;
        }

        Buffer(patch);
        if (!_catchingUp)
        {
            StartCatchUp();
        }
    }

    private void Buffer(PatchAppended patch)
    {
        if (_bufferOverflowed)
        {
            return;
        }

        _buffered ??= new SortedDictionary<long, PatchAppended>();
        if (_buffered.Count >= _settings.MaxBufferedLive)
        {
            // The journal has them all; reading them again beats holding an unbounded buffer.
            _buffered.Clear();
            _bufferOverflowed = true;
            return;
        }

        _buffered.TryAdd(patch.Sequence, patch);
    }

    private void Deliver(PatchAppended patch)
    {
        _nextSequence = patch.Sequence + 1;
        if (patch.OriginConnectionId == _connectionId)
        {
            return;
        }

        if (!_link.TryEnqueue(new OutboundFrame(patch.Payload, patch.IsText)))
        {
            CloseAndStop(RelayCloseCodes.PolicyViolation, "slow consumer");
        }
    }

    private void StartCatchUp()
    {
        _catchingUp = true;
        _bufferOverflowed = false;
        var from = _nextSequence;
        var link = _link;
        var connectionId = _connectionId;
        var stallTimeout = _settings.ReplayStallTimeout;
        var expected = from;

        // Only a gap-free run is delivered: a journal that shows a later row before an earlier one
        // commits ends this round early, and the next round reads on from there.
        _journal.Read(from, _knownLastSequence >= from ? _knownLastSequence : long.MaxValue)
            .TakeWhile(patch => patch.Sequence == expected++)
            .Batch(ReplayBatch, patch => new List<PatchAppended> { patch }, (batch, patch) =>
            {
                batch.Add(patch);
                return batch;
            })
            .SelectAsync(1, async batch =>
            {
                // Whole pages go to the socket's queue at once; the await only waits when the client lags.
                foreach (var patch in batch)
                {
                    if (patch.OriginConnectionId != connectionId &&
                        !await link.EnqueueAsync(new OutboundFrame(patch.Payload, patch.IsText), stallTimeout).ConfigureAwait(false))
                    {
                        throw new SlowConsumerException();
                    }
                }

                return batch[^1].Sequence;
            })
            .RunAggregate(from - 1, (_, sequence) => sequence, _materializer ??= Context.Materializer())
            .PipeTo(Self, success: last => new CatchUpCompleted(from, last), failure: cause => new CatchUpFailed(cause));
    }

    private void HandleCatchUpCompleted(CatchUpCompleted completed)
    {
        _nextSequence = Math.Max(_nextSequence, completed.LastSequence + 1);
        _knownLastSequence = Math.Max(_knownLastSequence, completed.LastSequence);
        while (_buffered is { Count: > 0 })
        {
            var (sequence, patch) = _buffered.First();
            if (sequence < _nextSequence)
            {
                _buffered.Remove(sequence);
            }
            else if (sequence == _nextSequence)
            {
                _buffered.Remove(sequence);
                Deliver(patch);
            }
            else
            {
                break;
            }
        }

        if (BufferedCount == 0 && !_bufferOverflowed && _knownLastSequence < _nextSequence)
        {
            _catchingUp = false;
            _materializer?.Shutdown();
            _materializer = null;
            RecordReplayDuration();
            return;
        }

        if (completed.LastSequence >= completed.FromSequence)
        {
            StartCatchUp();
        }
        else
        {
            // Nothing new was readable yet: the rows are being committed. Look again shortly.
            Timers.StartSingleTimer(nameof(RetryCatchUp), RetryCatchUp.Instance, TimeSpan.FromMilliseconds(50));
        }
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
        if (UnconfirmedCount == 0)
        {
            Context.Stop(Self);
            return;
        }

        _draining = true;
        Timers.StartSingleTimer(nameof(DrainTimedOut), DrainTimedOut.Instance, _settings.DrainTimeout);
    }

    private void CloseAndStop(int code, string reason)
    {
        Log.Info("Closing connection {ConnectionId} with {Code}: {Reason}", _connectionId, code, reason);
        _link.Close(new CloseRequest(code, reason));
        LeaveOrDrain();
    }

    /// <summary>A complete frame the client sent; the reader holds one credit of the link for it.</summary>
    public sealed record ClientFrame(ReadOnlyMemory<byte> Payload, bool IsText);

    /// <summary>The client's socket is gone.</summary>
    public sealed record ClientDisconnected
    {
        /// <summary>The one instance.</summary>
        public static readonly ClientDisconnected Instance = new();

        private ClientDisconnected()
        {
        }
    }

    private sealed record CatchUpCompleted(long FromSequence, long LastSequence);

    private sealed record CatchUpFailed(Exception Cause);

    private sealed class ResendTick
    {
        public static readonly ResendTick Instance = new();
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
