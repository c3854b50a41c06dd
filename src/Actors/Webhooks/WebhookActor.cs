#nullable enable
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Journal;

namespace Relay.Actors.Webhooks;

/// <summary>Settings of the webhook dispatcher (from <c>Relay:Webhooks</c>).</summary>
/// <param name="Prefix">Documents whose patches are sent.</param>
/// <param name="MaxBatch">Patches per POST at most.</param>
/// <param name="GatherFor">How long a batch waits for more patches once it has one.</param>
/// <param name="MaxBackoff">The longest wait between two tries.</param>
/// <param name="SnapshotEvery">Cursor moves between two snapshots of it (older moves are then deleted).</param>
internal sealed record WebhookSettings(string Prefix, int MaxBatch, TimeSpan GatherFor, TimeSpan MaxBackoff, int SnapshotEvery = 100);

/// <summary>
/// The cluster's one webhook dispatcher (a cluster singleton): follows the journal's patches of the prefix from its
/// cursor (<see cref="QueryPatchJournal.FollowPrefix"/>), hands them to the <see cref="IWebhookSender"/> a batch at a
/// time, tries a batch again (from 1 s, doubling up to the maximum) until the receiver takes it, and only then
/// journals the cursor past it and takes the next. So each patch is delivered at least once, in the journal's order
/// (every document's in its own); a restart or a move to another node goes on from the journaled cursor, sending
/// again at most the batch that was in flight.
/// </summary>
internal sealed class WebhookActor : ReceivePersistentActor, IWithTimers
{
    private const string Id = "relay-webhooks/default";
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IWebhookSender _sender;
    private readonly QueryPatchJournal _journal;
    private readonly WebhookSettings _settings;
    private readonly CancellationTokenSource _stopping = new();
    private long _cursor;
    private long _movesSinceSnapshot;
    private TimeSpan _backoff = FirstBackoff;
    private int _tries;

    // Which delivery a result belongs to: one of a batch that a restarted read dropped is not taken for its successor's.
    private long _delivery;
    private IReadOnlyList<DocumentChange>? _pending;
    private IActorRef? _stream;
    private UniqueKillSwitch? _killSwitch;

    /// <summary>Creates the dispatcher.</summary>
    public WebhookActor(IWebhookSender sender, QueryPatchJournal journal, WebhookSettings settings)
    {
        _sender = sender;
        _journal = journal;
        _settings = settings;

        Recover<SnapshotOffer>(offer => _cursor = (long)offer.Snapshot);
        Recover<long>(position => _cursor = position);
        Recover<RecoveryCompleted>(_ =>
        {
            _log.Info("Webhooks: sending the patches of documents under '{Prefix}' journaled after position {Cursor}", _settings.Prefix, _cursor);
            StartStream();
        });

        Command<StreamStarted>(_ =>
        {
            _stream = Sender;
            Sender.Tell(StreamAck.Instance);
        });
        Command<IEnumerable<DocumentChange>>(batch =>
        {
            _stream = Sender;
            _pending = batch.ToList();
            _tries = 0;
            Deliver();
        });
        Command<Delivered>(OnDelivered);
        Command<TryAgain>(_ => Deliver());
        Command<StreamEnded>(ended =>
        {
            if (ended.Cause is { } cause)
            {
                _log.Warning(cause, "Webhooks: reading the journal failed; reading again from position {Cursor} in {Backoff}", _cursor, _backoff);
            }

            // A batch in flight is dropped: the next read starts at the cursor, so it comes again first.
            _stream = null;
            _killSwitch = null;
            _pending = null;
            _delivery++;
            Timers.Cancel(nameof(TryAgain));
            Timers.StartSingleTimer(nameof(RestartStream), RestartStream.Instance, _backoff);
            _backoff = Next(_backoff);
        });
        Command<RestartStream>(_ =>
        {
            if (_killSwitch is null)
            {
                StartStream();
            }
        });
        Command<SaveSnapshotSuccess>(saved => DeleteMessages(saved.Metadata.SequenceNr));
        Command<SaveSnapshotFailure>(failed => _log.Warning(failed.Cause, "Webhooks: saving the cursor's snapshot failed; the next one tries again"));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(failed => _log.Warning(failed.Cause, "Webhooks: deleting cursor moves under a snapshot failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => Id;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the dispatcher.</summary>
    public static Props Props(IWebhookSender sender, QueryPatchJournal journal, WebhookSettings settings) =>
        Akka.Actor.Props.Create(() => new WebhookActor(sender, journal, settings));

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stopping.Cancel();
        _killSwitch?.Shutdown();
        base.PostStop();
    }

    private void StartStream()
    {
        var (killSwitch, _) = _journal.FollowPrefix(_settings.Prefix, _cursor)
            .ViaMaterialized(KillSwitches.Single<DocumentChange>(), Keep.Right)
            .GroupedWithin(_settings.MaxBatch, _settings.GatherFor)
            .ToMaterialized(
                Sink.ActorRefWithAck<IEnumerable<DocumentChange>>(Self, StreamStarted.Instance, StreamAck.Instance, new StreamEnded(null), cause => new StreamEnded(cause)),
                Keep.Both)
            .Run(Context.Materializer());
        _killSwitch = killSwitch;
    }

    private void Deliver()
    {
        if (_pending is not { } batch)
        {
            return;
        }

        _tries++;
        var delivery = ++_delivery;
        _sender.SendAsync(batch, _stopping.Token)
            .PipeTo(Self, success: taken => new Delivered(delivery, taken, null), failure: cause => new Delivered(delivery, false, cause));
    }

    private void OnDelivered(Delivered delivered)
    {
        if (_pending is not { } batch || delivered.Delivery != _delivery)
        {
            return;
        }

        if (!delivered.Taken)
        {
            RelayMetrics.WebhookFailures.Add(1);
            if (_tries == 1 || _tries % 10 == 0)
            {
                _log.Warning(delivered.Cause, "Webhooks: the receiver did not take {Count} patches after position {Cursor} (try {Tries}); trying again in {Backoff}", batch.Count, _cursor, _tries, _backoff);
            }

            Timers.StartSingleTimer(nameof(TryAgain), TryAgain.Instance, _backoff);
            _backoff = Next(_backoff);
            return;
        }

        var through = batch[^1].Position;
        Persist(through, position =>
        {
            _cursor = position;
            _pending = null;
            _backoff = FirstBackoff;
            RelayMetrics.WebhookPatches.Add(batch.Count);
            if (_tries > 1)
            {
                _log.Info("Webhooks: the receiver took the patches through position {Cursor} after {Tries} tries", position, _tries);
            }

            if (++_movesSinceSnapshot >= _settings.SnapshotEvery)
            {
                _movesSinceSnapshot = 0;
                SaveSnapshot(position);
            }

            _stream?.Tell(StreamAck.Instance);
        });
    }

    private TimeSpan Next(TimeSpan backoff) => backoff * 2 > _settings.MaxBackoff ? _settings.MaxBackoff : backoff * 2;

    private sealed record Delivered(long Delivery, bool Taken, Exception? Cause);

    private sealed record StreamEnded(Exception? Cause);

    private sealed class StreamStarted
    {
        public static readonly StreamStarted Instance = new();
    }

    private sealed class StreamAck
    {
        public static readonly StreamAck Instance = new();
    }

    private sealed class TryAgain
    {
        public static readonly TryAgain Instance = new();
    }

    private sealed class RestartStream
    {
        public static readonly RestartStream Instance = new();
    }
}
