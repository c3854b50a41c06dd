#nullable enable
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using Relay.Actors.Compaction;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.History;

/// <summary>Settings of the sequencer.</summary>
/// <param name="SnapshotEvery">Snapshot the state after this many patches, so recovery replays at most that many.</param>
/// <param name="HeartbeatInterval">How often the last sequence number is announced on the topic.</param>
/// <param name="MaxCursors">How many connections' deduplication cursors are kept.</param>
/// <param name="PassivateAfter">
/// A sequencer that takes no append and no open for this long asks its parent (the sequencer host or the
/// shard) to stop it; the next message starts it again from the journal. Zero: never. The default document's
/// sequencer never passivates: readiness listens to its heartbeat.
/// </param>
internal sealed record HistorySettings(int SnapshotEvery, TimeSpan HeartbeatInterval, int MaxCursors, TimeSpan PassivateAfter)
{
    /// <summary>
    /// Snapshot also once the payloads journaled since the last snapshot reach this many bytes (or the size of
    /// the last snapshot, if that is larger): recovery then replays about this much, whatever the patch sizes.
    /// Set from <c>Relay:Replay:MaxBufferedBytes</c>.
    /// The journal plugin reads a whole page of rows before handing out the first, so a count alone would let
    /// a history of large patches load gigabytes at once.
    /// </summary>
    public long SnapshotEveryBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary><c>Relay:Compaction:Mode</c>: whether and how the sequencer folds the patches into the document's state.</summary>
    public CompactionMode Compaction { get; init; }

    /// <summary><c>Relay:Compaction:InitialState</c> as UTF-8 JSON.</summary>
    public ReadOnlyMemory<byte> InitialState { get; init; } = "{}"u8.ToArray();

    /// <summary><c>Relay:Compaction:DeleteCompacted</c>: delete the journal events a snapshot covers.</summary>
    public bool DeleteCompacted { get; init; }

    /// <summary>
    /// <c>Relay:Compaction:SnapshotFloorBytes</c>: with compaction, a snapshot is due once the patches since the last
    /// one are as large as the state (Automerge's rule), but never for less than this many bytes, so that a small
    /// state is not snapshot after every patch.
    /// </summary>
    public long CompactionFloorBytes { get; init; } = 16 * 1024;

    /// <summary>Relay's own SQL on the journal, which deletes a whole history (<see cref="DeleteHistory"/>); null: a delete fails.</summary>
    public JournalSql? Journal { get; init; }

    /// <summary>Defaults for production.</summary>
    public static readonly HistorySettings Default = new(10_000, TimeSpan.FromSeconds(1), 100_000, TimeSpan.FromMinutes(2));
}

/// <summary>
/// The single sequencer of one document: it lives under the cluster singleton (<see cref="HistoryHostActor"/>)
/// or in a shard, and exactly once in the cluster either way. Each accepted patch gets the next journal
/// sequence number, is journaled first and only then confirmed to its connection and published on the
/// document's topic. Writes go through <c>PersistAsync</c> so the journal batches them.
/// </summary>
internal sealed class HistoryActor : ReceivePersistentActor, IWithTimers
{
    // One batch being written and one being handed over keeps the journal busy without queueing in it.
    private const int MaxWritesInFlight = 2;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly DocumentName _document;
    private readonly NodeStatus _node;
    private readonly IActorRef _publisher;
    private readonly HistorySettings _settings;
    private readonly HistoryState _state;
    private List<PatchAppended> _batch = new();

    // Journaled and confirmed, not yet published: the patches of the write whose confirmations are being handled.
    private readonly List<PatchAppended> _journaled = new();
    private readonly Queue<(IActorRef Sender, bool FromApi)> _awaitingConfirmation = new();

    // Refused conditional appends (HeadMoved), each answered with the head it met once that head is journaled: no
    // caller learns a sequence number before it is in the journal. In the order of their heads.
    private readonly Queue<(IActorRef Sender, AppendPatchResponse Response)> _headMovedReplies = new();
    private int _writesInFlight;

    // Snapshots being saved, by sequence number: whether each holds a compactable state.
    private readonly Dictionary<long, bool> _snapshotsInFlight = new();

    // Journal and snapshot deletions asked for and not answered yet: a history's delete waits for them, so that none
    // of them lands on its next history.
    private int _deletionsInFlight;

    // Trims (TrimHistory) waiting for their snapshot to be saved (Deleting 0), then for the journal's delete.
    private readonly List<PendingTrim> _trims = new();

    // Set while the whole history is being deleted (DeleteHistory).
    private Deletion? _deletion;

    /// <summary>
    /// Creates the sequencer of <paramref name="document"/>; <paramref name="publisher"/> is the DistributedPubSub
    /// mediator (or a test probe), <paramref name="node"/> the status of the node it runs on.
    /// </summary>
    public HistoryActor(DocumentName document, IActorRef publisher, NodeStatus node, HistorySettings settings)
    {
        _document = document;
        _node = node;
        _publisher = publisher;
        _settings = settings;
        _state = new HistoryState(settings);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is HistorySnapshot snapshot)
            {
                _state.Restore(snapshot);
            }
        });
        Recover<PatchAppended>(_state.Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            _state.Recovered(LastSequenceNr);
            _state.EnsureEpoch(PersistenceId);
            NoteCompactability(recovering: true);
            _log.Info("History of {Document} recovered at sequence {LastSequence} with {Cursors} connection cursors", _document, _state.LastSequence, _state.CursorCount);
            Timers.StartPeriodicTimer(nameof(Heartbeat), Heartbeat.Instance, TimeSpan.Zero, _settings.HeartbeatInterval);
            if (!_document.IsDefault && _settings.PassivateAfter > TimeSpan.Zero)
            {
                Context.SetReceiveTimeout(_settings.PassivateAfter);
            }
        });

        Command<AppendPatch>(HandleAppend);
        Command<OpenDocument>(open => Sender.Tell(new DocumentOpened(_document, _state.LastSequence, _state.Epoch)
        {
            JoinSnapshot = _state.JoinSnapshot,
            ClientLastFrame = open.Client is { } client ? _state.LastFrameOf(client) : 0,
            TrimmedThrough = _state.TrimmedThrough,
        }));
        Command<TrimHistory>(HandleTrim);
        Command<DeleteHistory>(StartDeleting);
        Command<ReceiveTimeout>(_ =>
        {
            // The parent stops us with StopSequencer, so the writes in flight finish first; messages that
            // arrive meanwhile start a new sequencer once this one is gone.
            _log.Debug("Sequencer of {Document} idle for {Idle}; passivating", _document, _settings.PassivateAfter);
            Context.SetReceiveTimeout(null);
            Context.Parent.Tell(new Passivate(StopSequencer.Instance));
        });
        Command<Heartbeat>(_ => PublishHeartbeat());
        Command<SaveSnapshotSuccess>(success =>
        {
            OnSnapshotSaved(success.Metadata.SequenceNr);
            TrimAfterSnapshot(success.Metadata.SequenceNr, saved: true);
        });
        Command<SaveSnapshotFailure>(failure =>
        {
            _snapshotsInFlight.Remove(failure.Metadata.SequenceNr);
            _log.Warning(failure.Cause, "Snapshot at sequence {Sequence} failed", failure.Metadata.SequenceNr);
            TrimAfterSnapshot(failure.Metadata.SequenceNr, saved: false);
        });
        Command<DeleteMessagesSuccess>(deleted =>
        {
            _deletionsInFlight--;
            _log.Debug("Deleted the journal of {Document} up to {Sequence}, covered by its snapshots", _document, deleted.ToSequenceNr);
            AnswerTrims(deleted.ToSequenceNr, null);
        });
        Command<DeleteMessagesFailure>(failure =>
        {
            _deletionsInFlight--;
            _log.Warning(failure.Cause, "Deleting the journal of {Document} up to {Sequence} failed; the next snapshot tries again", _document, failure.ToSequenceNr);
            AnswerTrims(failure.ToSequenceNr, failure.Cause);
        });
        // The singleton's termination message on hand-over and shutdown: the writes in flight finish and are
        // confirmed and published before the sequencer stops, so no accepted patch is left unjournaled.
        Command<StopSequencer>(stop => DeferAsync(stop, _ =>
        {
            _log.Info("Sequencer of {Document} stopping at sequence {LastSequence}", _document, _state.LastSequence);
            Context.Stop(Self);
        }));
        Command<DeleteSnapshotsSuccess>(_ => _deletionsInFlight--);
        Command<DeleteSnapshotsFailure>(failure =>
        {
            _deletionsInFlight--;
            _log.Warning(failure.Cause, "Deleting old snapshots failed");
        });
    }

    /// <inheritdoc />
    public override string PersistenceId => _document.PersistenceId;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the sequencer of <paramref name="document"/>.</summary>
    public static Props Props(DocumentName document, IActorRef publisher, NodeStatus node, HistorySettings settings) =>
        Akka.Actor.Props.Create(() => new HistoryActor(document, publisher, node, settings));

    /// <inheritdoc />
    protected override void PreStart()
    {
        _node.SequencerStarted(_document);
        base.PreStart();
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        if (_state.NotCompactableReported)
        {
            RelayMetrics.NotCompactableDocuments.Add(-1);
        }

        _node.SequencerStopped(_document);
        base.PostStop();
    }

    private void HandleAppend(AppendPatch append)
    {
        var decision = _state.Decide(append);
        switch (decision)
        {
            case AppendDecision.Duplicate:
                Sender.Tell(Answer(append, _state.LastSequenceOf(append.ConnectionId)));
                return;
            case AppendDecision.Behind:
            case AppendDecision.Conflict:
                if (decision == AppendDecision.Conflict)
                {
                    _log.Info("Refused frame {FrameNo} of {ConnectionId} in {Document}: that id is journaled with another payload", append.FrameNo, append.ConnectionId, _document);
                }

                Sender.Tell(Answer(append, _state.LastSequenceOf(append.ConnectionId)) with
                {
                    Outcome = decision == AppendDecision.Behind ? AppendOutcome.Behind : AppendOutcome.Conflict,
                    JournaledFrame = _state.LastFrameOf(append.ConnectionId),
                });
                return;
            case AppendDecision.HeadMoved:
                var moved = Answer(append, _state.LastAssigned) with { Outcome = AppendOutcome.HeadMoved };
                if (_state.LastAssigned == _state.LastSequence)
                {
                    Sender.Tell(moved);
                }
                else
                {
                    _headMovedReplies.Enqueue((Sender, moved));
                }

                return;
            case AppendDecision.OutOfOrder when append.FromApi:
                Sender.Tell(Answer(append, _state.LastSequenceOf(append.ConnectionId)) with
                {
                    Outcome = AppendOutcome.OutOfOrder,
                    JournaledFrame = _state.LastFrameOf(append.ConnectionId),
                });
                return;
            case AppendDecision.InFlight:
            case AppendDecision.OutOfOrder:
                // The confirmation of the in-flight write, or the connection's in-order resend, will follow.
                return;
        }

        // LastSequenceNr moves only when a write completes: the state numbers ahead of it, and OnPersisted checks
        // that the journal agrees.
        _batch.Add(_state.AssignNext(append));
        _awaitingConfirmation.Enqueue((Sender, append.FromApi));
        if (_writesInFlight < MaxWritesInFlight)
        {
            Flush();
        }
    }

    // The server API answers with the epoch; connections know it from their hub, so their answers go without.
    private AppendPatchResponse Answer(AppendPatch append, long sequence) =>
        new(append.ConnectionId, append.FrameNo, sequence) { Epoch = append.FromApi ? _state.Epoch : 0 };

    /// <summary>
    /// Hands the appends gathered so far to the journal as one write. While the journal is busy, new appends
    /// gather in the next batch, so the batch grows with the load and each patch costs less of a round trip.
    /// </summary>
    private void Flush()
    {
        if (_batch.Count == 0)
        {
            return;
        }

        var events = _batch;
        _batch = new List<PatchAppended>();
        _writesInFlight++;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        PersistAllAsync(events, OnPersisted);
        DeferAsync(BatchWritten.Instance, _ =>
        {
            RelayMetrics.JournalWriteDuration.Record(RelayMetrics.SecondsSince(started));
            PublishJournaled();
            _writesInFlight--;
            Flush();
            PurgeWhenQuiet();
        });
    }

    private void OnPersisted(PatchAppended persisted)
    {
        if (persisted.Sequence != LastSequenceNr)
        {
            throw new InvalidOperationException(
                $"Patch numbered {persisted.Sequence} was journaled as {LastSequenceNr}; restarting from the journal");
        }

        _state.Apply(persisted);
        var (sender, fromApi) = _awaitingConfirmation.Dequeue();
        sender.Tell(new AppendPatchResponse(persisted.OriginConnectionId, persisted.FrameNo, persisted.Sequence) { Epoch = fromApi ? _state.Epoch : 0 });
        _journaled.Add(persisted);
        while (_headMovedReplies.TryPeek(out var waiting) && waiting.Response.Sequence <= _state.LastSequence)
        {
            _headMovedReplies.Dequeue().Sender.Tell(waiting.Response);
        }

        // Deciding and taking a snapshot may each find that the state no longer folds (or is too deep to write).
        var due = _state.SnapshotDue();
        NoteCompactability(recovering: false);
        if (due)
        {
            var snapshot = _state.ToSnapshot();
            NoteCompactability(recovering: false);
            _snapshotsInFlight[persisted.Sequence] = snapshot.Compactable;
            SaveSnapshot(snapshot);
        }
    }

    /// <summary>
    /// Keeps the snapshot joiners start from and, with compaction, the one before it (a node that loaded that one may
    /// still be reading the journal after it); with <c>DeleteCompacted</c>, deletes the journal up to that previous
    /// snapshot. Older snapshots go.
    /// </summary>
    private void OnSnapshotSaved(long sequence)
    {
        var compactable = _snapshotsInFlight.Remove(sequence, out var holdsState) && holdsState;
        if (_settings.Compaction == CompactionMode.None)
        {
            DeleteSnapshotsWhere(new SnapshotSelectionCriteria(sequence - 1));
            return;
        }

        var previous = _state.SnapshotSaved(sequence, compactable);
        var join = _state.JoinSnapshot;
        if (join != previous)
        {
            PublishHeartbeat();
        }

        if (compactable)
        {
            if (previous > 0 && _settings.DeleteCompacted)
            {
                DeleteJournalThrough(previous);
            }

            DeleteSnapshotsWhere(new SnapshotSelectionCriteria((previous > 0 ? previous : sequence) - 1));
        }
        else if (join > 0)
        {
            // Not compactable, but the journal before the last compactable snapshot is gone: joiners keep starting there.
            DeleteSnapshotsWhere(new SnapshotSelectionCriteria(join - 1));
            DeleteSnapshotsWhere(new SnapshotSelectionCriteria(sequence - 1, DateTime.MaxValue, join + 1));
        }
        else
        {
            DeleteSnapshotsWhere(new SnapshotSelectionCriteria(sequence - 1));
        }
    }

    /// <summary>
    /// A trim (<see cref="TrimHistory"/>): the state decides how far the journal may go (what the snapshot joiners start
    /// from covers); a snapshot saying so is saved first, then the journal is deleted up to there, so that a sequencer
    /// that restarts in between already sends resumes from before the trim to a snapshot join.
    /// </summary>
    private void HandleTrim(TrimHistory trim)
    {
        var (outcome, through, reason) = _state.DecideTrim(trim.Before, trim.UpToSnapshot);
        if (outcome != HistoryEditOutcome.Done || through <= _state.TrimmedThrough)
        {
            Sender.Tell(Edited(outcome, through) with { Reason = reason });
            return;
        }

        _state.Trimmed(through);
        var snapshot = _state.ToSnapshot();
        _snapshotsInFlight[snapshot.LastSequence] = snapshot.Compactable;
        _trims.Add(new PendingTrim(Sender, through, snapshot.LastSequence));
        SaveSnapshot(snapshot);
        PublishHeartbeat();
        _log.Info("Trimming the journal of {Document} through {Through} (snapshot joiners start from: {JoinSnapshot})", _document, through, _state.JoinSnapshot);
    }

    private void TrimAfterSnapshot(long sequence, bool saved)
    {
        foreach (var trim in _trims.Where(t => !t.Deleting && t.Snapshot == sequence).ToList())
        {
            if (!saved)
            {
                _trims.Remove(trim);
                trim.Sender.Tell(Edited(HistoryEditOutcome.Failed, _state.TrimmedThrough) with { Reason = "the snapshot store failed; nothing was trimmed" });
                continue;
            }

            trim.Deleting = true;
            DeleteJournalThrough(trim.Through);
        }
    }

    private void AnswerTrims(long toSequenceNr, Exception? failure)
    {
        foreach (var trim in _trims.Where(t => t.Deleting && t.Through == toSequenceNr).ToList())
        {
            _trims.Remove(trim);
            if (failure is null)
            {
                RelayMetrics.HistoryTrims.Add(1);
            }

            trim.Sender.Tell(failure is null
                ? Edited(HistoryEditOutcome.Done, trim.Through)
                : Edited(HistoryEditOutcome.Failed, trim.Through) with { Reason = "the journal failed: " + failure.Message });
        }
    }

    // Every deletion of journal events or snapshots goes through these two, so that a delete of the whole history can
    // wait for the ones in flight (_deletionsInFlight).
    private void DeleteJournalThrough(long toSequenceNr)
    {
        _deletionsInFlight++;
        DeleteMessages(toSequenceNr);
    }

    private void DeleteSnapshotsWhere(SnapshotSelectionCriteria criteria)
    {
        _deletionsInFlight++;
        DeleteSnapshots(criteria);
    }

    private HistoryEdited Edited(HistoryEditOutcome outcome, long through) =>
        new(_document, outcome, through) { Head = _state.LastSequence, Epoch = _state.Epoch, JoinSnapshot = _state.JoinSnapshot };

    /// <summary>
    /// A delete of the whole history (<see cref="DeleteHistory"/>): every message for the document waits (the appends
    /// being written finish, and are deleted with the rest) until the journal's writes and deletions and the snapshots
    /// being saved are done; then one transaction deletes the document's rows; then the sequencer stops through its
    /// parent (the singleton's host or the shard), handing it the messages that waited, so that the next sequencer
    /// recovers an empty history (a new epoch, numbering from 1) and takes them.
    /// </summary>
    private void StartDeleting(DeleteHistory delete)
    {
        if (_state.LastSequence == 0 && _state.LastAssigned == 0)
        {
            Sender.Tell(Edited(HistoryEditOutcome.NotFound, 0));
            return;
        }

        _deletion = new Deletion(Sender);
        _log.Info("Deleting the history of {Document} (head {Head}, epoch {Epoch})", _document, _state.LastAssigned, _state.Epoch);
        Become(Deleting);
        PurgeWhenQuiet();
    }

    private void Deleting()
    {
        var deletion = _deletion!;
        Command<SaveSnapshotSuccess>(success =>
        {
            _snapshotsInFlight.Remove(success.Metadata.SequenceNr);
            PurgeWhenQuiet();
        });
        Command<SaveSnapshotFailure>(failure =>
        {
            _snapshotsInFlight.Remove(failure.Metadata.SequenceNr);
            PurgeWhenQuiet();
        });
        Command<DeleteMessagesSuccess>(_ => Settled());
        Command<DeleteMessagesFailure>(_ => Settled());
        Command<DeleteSnapshotsSuccess>(_ => Settled());
        Command<DeleteSnapshotsFailure>(_ => Settled());
        Command<HistoryPurged>(purged =>
        {
            deletion.Done = true;
            if (purged.Failure is { } failure)
            {
                _log.Warning(failure, "Deleting the history of {Document} failed; nothing was deleted", _document);
                deletion.Requester.Tell(Edited(HistoryEditOutcome.Failed, 0) with { Reason = "the journal failed: " + failure.Message });
            }
            else
            {
                _log.Info("Deleted the history of {Document}: {Rows} journal rows through sequence {Head}", _document, purged.Rows, _state.LastSequence);
                RelayMetrics.HistoriesDeleted.Add(1);
                deletion.Requester.Tell(Edited(HistoryEditOutcome.Done, _state.LastSequence));
            }

            foreach (var trim in _trims)
            {
                trim.Sender.Tell(Edited(purged.Failure is null ? HistoryEditOutcome.Done : HistoryEditOutcome.Failed, trim.Through));
            }

            _trims.Clear();
            if (deletion.StopAsked)
            {
                StopAfterDeleting(deletion);
            }
            else
            {
                // The next sequencer recovers from the journal as it now is; the parent holds what arrives meanwhile.
                Context.Parent.Tell(new Passivate(StopSequencer.Instance));
            }
        });
        Command<StopSequencer>(_ =>
        {
            deletion.StopAsked = true;
            if (deletion.Done)
            {
                StopAfterDeleting(deletion);
            }
        });
        Command<IDocumentCommand>(command => deletion.Waiting.Add((command, Sender)));
        Command<Heartbeat>(_ => { });
        Command<ReceiveTimeout>(_ => { });
        return;

        void Settled()
        {
            _deletionsInFlight--;
            PurgeWhenQuiet();
        }
    }

    private void PurgeWhenQuiet()
    {
        if (_deletion is not { Purging: false } deletion || _writesInFlight > 0 || _batch.Count > 0 || _snapshotsInFlight.Count > 0 || _deletionsInFlight > 0)
        {
            return;
        }

        deletion.Purging = true;
        var purge = _settings.Journal is { } journal
            ? journal.PurgeAsync(PersistenceId, CancellationToken.None)
            : Task.FromException<int>(new InvalidOperationException("this sequencer has no SQL on its journal"));
        purge.PipeTo(Self, success: rows => new HistoryPurged(rows, null), failure: cause => new HistoryPurged(0, cause));
    }

    // The messages that waited go to the parent, which holds them for the next sequencer (a parent that is itself
    // stopping drops them: their senders resend to the next one). That one is started at once with an OpenDocument, so
    // its heartbeat tells every node's hub of the new history.
    private void StopAfterDeleting(Deletion deletion)
    {
        foreach (var (message, sender) in deletion.Waiting)
        {
            Context.Parent.Tell(message, sender);
        }

        Context.Parent.Tell(new OpenDocument(_document), ActorRefs.NoSender);
        Context.Stop(Self);
    }

    // Says once per sequencer why its document is not compactable, and counts it while the sequencer runs.
    private void NoteCompactability(bool recovering)
    {
        if (!_state.ReportNotCompactable())
        {
            return;
        }

        var fold = _state.Fold!;
        RelayMetrics.NotCompactableDocuments.Add(1);
        if (!recovering)
        {
            PublishHeartbeat();
        }

        var replay = _state.JoinSnapshot > 0
            ? $"joiners start from its last compactable snapshot, at sequence {_state.JoinSnapshot}, whose earlier journal was deleted"
            : "joiners replay its whole history";
        if (recovering)
        {
            _log.Info("Document {Document} is not compactable ({Reason}): {Replay}", _document, fold.NotCompactableReason, replay);
        }
        else
        {
            _log.Warning("Document {Document} is no longer compactable at sequence {Sequence} ({Reason}): {Replay}; its patches are still journaled and relayed",
                _document, _state.LastSequence, fold.NotCompactableReason, replay);
        }
    }

    private void Publish(object message) => _publisher.Tell(new Publish(_document.Topic, message));

    // Also sent at once when the snapshot joiners start from changes, so the hubs learn it without waiting for the timer.
    private void PublishHeartbeat()
    {
        // After the patches it counts: a hub that heard of a later head than it has patches would read the journal.
        PublishJournaled();
        Publish(new HistoryHeartbeat(_state.LastSequence, _state.Epoch) { JoinSnapshot = _state.JoinSnapshot, TrimmedThrough = _state.TrimmedThrough });
    }

    /// <summary>
    /// Publishes the patches of the writes journaled so far, together: one message per commit (split by
    /// <see cref="PatchesAppended.Group"/>) rather than one per patch, so each hub hands a commit on at once.
    /// </summary>
    private void PublishJournaled()
    {
        if (_journaled.Count == 0)
        {
            return;
        }

        foreach (var message in PatchesAppended.Group(_journaled))
        {
            Publish(message);
        }

        _journaled.Clear();
    }

    /// <inheritdoc />
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error(cause, "Journal write of sequence {Sequence} failed; the sequencer stops and its supervisor restarts it", sequenceNr);
        RelayMetrics.JournalWriteFailures.Add(1);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <inheritdoc />
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        // Later appends already took the following sequence numbers; only a fresh recovery from the
        // journal gives the state and the numbering the journal really has.
        _log.Error(cause, "Journal rejected sequence {Sequence}; the sequencer stops and its supervisor restarts it", sequenceNr);
        RelayMetrics.JournalWriteFailures.Add(1);
        Context.Stop(Self);
    }

    /// <summary>Asks the sequencer to stop once its journal writes in flight are done; sent locally by the singleton manager.</summary>
    public sealed record StopSequencer
    {
        /// <summary>The one instance.</summary>
        public static readonly StopSequencer Instance = new();

        private StopSequencer()
        {
        }
    }

    private sealed record HistoryPurged(int Rows, Exception? Failure);

    private sealed class PendingTrim(IActorRef sender, long through, long snapshot)
    {
        public IActorRef Sender { get; } = sender;

        public long Through { get; } = through;

        public long Snapshot { get; } = snapshot;

        // Its snapshot is saved and the journal's delete is asked for.
        public bool Deleting { get; set; }
    }

    private sealed class Deletion(IActorRef requester)
    {
        public IActorRef Requester { get; } = requester;

        public List<(IDocumentCommand Message, IActorRef Sender)> Waiting { get; } = new();

        public bool Purging { get; set; }

        public bool Done { get; set; }

        public bool StopAsked { get; set; }
    }

    private sealed class BatchWritten
    {
        public static readonly BatchWritten Instance = new();
    }

    // A heartbeat is the sequencer's own timer: it must not keep an idle sequencer from passivating.
    private sealed class Heartbeat : INotInfluenceReceiveTimeout
    {
        public static readonly Heartbeat Instance = new();

        private Heartbeat()
        {
        }
    }
}
