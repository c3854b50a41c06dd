#nullable enable
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Dispatch;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using Akka.Persistence.Sql.Journal;
using Relay.Actors.Diagnostics;

namespace Relay.Actors.Journal;

/// <summary>
/// Akka.Persistence.Sql's write journal, committing the writes of many persistent actors together. Each
/// sequencer has one write in flight at a time (Akka.Persistence's rule), so with many documents the journal
/// sees many small writes at once; Akka.Persistence.Sql 1.5.73 commits each in a transaction of its own (its
/// write queue's batching hands on batches of one, most of all with SQLite, whose calls run synchronously), and
/// every write pays a durable commit. Here, while <c>parallelism</c> commits are under way, new writes wait and
/// then go together into the next (<see cref="CommitGroups{T}"/>, about <c>batch-size</c> rows each), as one
/// write of the plugin, so one transaction. A lone sequencer's writes go straight through, as before.
/// <para>
/// A group commits or fails as a whole; when a group of several fails, each of its writes is retried alone,
/// so one bad write (a second writer of the same sequence numbers, say) fails only its own sequencer. The
/// sequence numbers' primary key makes a retry safe: a write that did commit cannot commit twice.
/// </para>
/// <para>
/// On SQLite a group's rows do not go through the plugin's write path but through <see cref="SqliteJournalWriter"/>:
/// the same rows (<see cref="JournalRowSerializer"/>, the plugin's table and columns from its configuration), one
/// prepared <c>INSERT</c> reused for every row instead of new SQL text per batch, one transaction per group, run on
/// the plugin's <c>materializer-dispatcher</c> (the journal's own thread) where the plugin ran it. Everything else
/// (recovery, queries, deletes, the highest sequence number, creating the tables) stays the plugin's; so do writes
/// with tags (the plugin's tag table) and every write on PostgreSQL.
/// </para>
/// Set as the journal's <c>class</c> in akka.hocon; every other setting is the plugin's own.
/// </summary>
public sealed class GroupCommitJournal : SqlWriteJournal
{
    private readonly CommitGroups<PendingWrite> _groups;
    private readonly Dictionary<string, Task> _unfinished = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly JournalRowSerializer? _rows;
    private readonly SqliteJournalWriter? _sqlite;
    private readonly MessageDispatcher? _writeDispatcher;

    /// <summary>Created by Akka.Persistence from the journal's configuration.</summary>
    public GroupCommitJournal(Config journalConfig)
        : base(journalConfig)
    {
        var config = journalConfig.WithFallback(SqlPersistence.DefaultJournalConfiguration);
        _groups = new CommitGroups<PendingWrite>(
            maxInFlight: Math.Max(1, config.GetInt("parallelism", 1)),
            maxRows: Math.Max(1, config.GetInt("batch-size", 1000)));

        // The plugin's own reading of the same settings; data options set up in code would make its connection
        // another than the connection string's, so those keep the plugin's path.
        var plugin = new JournalConfig(config);
        var setup = Context.System.Settings.Setup;
        if (SqliteJournalWriter.Fits(plugin) && !setup.Get<DataOptionsSetup>().HasValue && !setup.Get<MultiDataOptionsSetup>().HasValue)
        {
            _rows = new JournalRowSerializer((ExtendedActorSystem)Context.System, plugin.DefaultSerializer);
            _sqlite = new SqliteJournalWriter(plugin, JournalWriterUuid.New());
            _writeDispatcher = Context.System.Dispatchers.Lookup(plugin.MaterializerDispatcher);
        }
    }

    /// <inheritdoc />
    protected override Task<IImmutableList<Exception>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken = default)
    {
        var pending = new PendingWrite(messages.ToList());
        foreach (var write in pending.Writes)
        {
            _unfinished[write.PersistenceId] = pending.Task;
        }

        if (_groups.Add(pending, pending.Rows) is { } group)
        {
            Commit(group, alone: []);
        }

        return pending.Task;
    }

    /// <inheritdoc />
    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken = default)
    {
        if (!_unfinished.TryGetValue(persistenceId, out var write))
        {
            return base.ReadHighestSequenceNrAsync(persistenceId, fromSequenceNr, cancellationToken);
        }

        // A write of this persistence id is waiting or under way (a sequencer restarted while its last write was
        // out): read once it is done. The plugin's own read must run on this actor's thread, so come back here.
        var read = new ReadHighest(persistenceId, fromSequenceNr, cancellationToken);
        var self = Self;
        write.ContinueWith(_ => self.Tell(read), TaskScheduler.Default);
        return read.Result.Task;
    }

    /// <inheritdoc />
    protected override bool ReceivePluginInternal(object message)
    {
        switch (message)
        {
            case GroupWritten written:
                OnWritten(written);
                return true;
            case AwaitJournalInitialized:
                // The plugin holds every message back until its tables are ready: this answer means they are.
                Sender.Tell(JournalInitialized.Instance);
                return true;
            case ReadHighest read:
                base.ReadHighestSequenceNrAsync(read.PersistenceId, read.FromSequenceNr, read.CancellationToken).ContinueWith(
                    done =>
                    {
                        if (done.IsCompletedSuccessfully)
                        {
                            read.Result.TrySetResult(done.Result);
                        }
                        else
                        {
                            read.Result.TrySetException(done.Exception?.GetBaseException() ?? new TaskCanceledException());
                        }
                    },
                    TaskScheduler.Default);
                return true;
            default:
                return base.ReceivePluginInternal(message);
        }
    }

    private void Commit(IReadOnlyList<PendingWrite> group, IReadOnlyList<PendingWrite> alone)
    {
        var writes = group.Count == 1 ? group[0].Writes : group.SelectMany(pending => pending.Writes).ToList();
        var self = Self;
        Task<IImmutableList<Exception>> written;
        try
        {
            // No writer's own token: the commit is shared, and one writer giving up must not cancel the others'
            // rows. A writer that gave up (its breaker's timeout) learns the outcome by recovering from the journal.
            written = _sqlite is not null && !JournalRowSerializer.AnyTagged(writes)
                ? WriteSqlite(writes)
                : base.WriteMessagesAsync(writes, CancellationToken.None);
        }
        catch (Exception e)
        {
            // Whatever the plugin throws before its task exists must fail this group's writers, not leave them
            // waiting for a task that never comes.
            written = Task.FromException<IImmutableList<Exception>>(e);
        }

        written.ContinueWith(done => self.Tell(new GroupWritten(group, done, alone)), TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>
    /// The rows of <paramref name="writes"/> serialized here, as the plugin does on this actor's thread, then
    /// committed in one transaction on the journal's thread; answered as the plugin answers, once committed.
    /// </summary>
    private Task<IImmutableList<Exception>> WriteSqlite(IReadOnlyList<AtomicWrite> writes)
    {
        // One time for the whole commit, in ticks, as the plugin takes it once per write it is handed.
        var (rows, rejections) = _rows!.Serialize(writes, DateTime.UtcNow.Ticks);
        if (rows.Count == 0)
        {
            return Task.FromResult<IImmutableList<Exception>>(rejections!);
        }

        var committed = new TaskCompletionSource<IImmutableList<Exception>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sqlite = _sqlite!;
        _writeDispatcher!.Schedule(() =>
        {
            try
            {
                sqlite.Write(rows);
                committed.TrySetResult(rejections!);
            }
            catch (Exception e)
            {
                committed.TrySetException(e);
            }
        });
        return committed.Task;
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        // On the journal's thread, after any commit under way (the writer takes one call at a time).
        if (_sqlite is { } sqlite)
        {
            _writeDispatcher!.Schedule(sqlite.Dispose);
        }

        base.PostStop();
    }

    private void OnWritten(GroupWritten written)
    {
        var (group, done, alone) = written;
        if (done.IsCompletedSuccessfully)
        {
            Settle(group, done.Result);
        }
        else if (group.Count > 1)
        {
            var cause = done.Exception?.GetBaseException();
            _log.Warning("A group commit of {0} journal writes failed ({1}); retrying each write alone", group.Count, cause?.Message);
            Commit([group[0]], alone: [.. group.Skip(1), .. alone]);
            return;
        }
        else
        {
            var cause = done.Exception?.GetBaseException() ?? new TaskCanceledException("The journal write was cancelled");
            foreach (var pending in group)
            {
                Forget(pending);
                pending.Fail(cause);
            }
        }

        if (alone.Count > 0)
        {
            Commit([alone[0]], alone: [.. alone.Skip(1)]);
            return;
        }

        if (_groups.Completed() is { } next)
        {
            Commit(next, alone: []);
        }
    }

    private void Settle(IReadOnlyList<PendingWrite> group, IImmutableList<Exception>? results)
    {
        var offset = 0;
        foreach (var pending in group)
        {
            Forget(pending);

            // The plugin answers one entry per write (null for a write that was not rejected), or nothing at all.
            pending.Succeed(results is null ? null : ImmutableList.CreateRange(results.Skip(offset).Take(pending.Writes.Count)));
            offset += pending.Writes.Count;
        }

        RelayMetrics.JournalCommitWrites.Record(group.Count);
    }

    private void Forget(PendingWrite pending)
    {
        foreach (var write in pending.Writes)
        {
            if (_unfinished.TryGetValue(write.PersistenceId, out var task) && task == pending.Task)
            {
                _unfinished.Remove(write.PersistenceId);
            }
        }
    }

    /// <summary>One <c>WriteMessages</c> of one persistent actor, waiting for its group's commit.</summary>
    private sealed class PendingWrite(IReadOnlyList<AtomicWrite> writes)
    {
        private readonly TaskCompletionSource<IImmutableList<Exception>> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<AtomicWrite> Writes { get; } = writes;

        public int Rows { get; } = writes.Sum(write => write.Size);

        public Task<IImmutableList<Exception>> Task => _done.Task;

        public void Succeed(IImmutableList<Exception>? results) => _done.TrySetResult(results!);

        public void Fail(Exception cause) => _done.TrySetException(cause);
    }

    private sealed record GroupWritten(IReadOnlyList<PendingWrite> Group, Task<IImmutableList<Exception>> Done, IReadOnlyList<PendingWrite> Alone);

    private sealed record ReadHighest(string PersistenceId, long FromSequenceNr, CancellationToken CancellationToken)
    {
        public TaskCompletionSource<long> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>
/// Asked of the write journal (<see cref="GroupCommitJournal"/>): answered with <see cref="JournalInitialized"/> once
/// its tables are ready. Akka.Persistence.Sql's own question for this is internal to it.
/// </summary>
internal sealed class AwaitJournalInitialized
{
    /// <summary>The one instance.</summary>
    public static readonly AwaitJournalInitialized Instance = new();

    private AwaitJournalInitialized()
    {
    }
}

/// <summary>The write journal's answer to <see cref="AwaitJournalInitialized"/>; late (its asker gone), not worth a dead-letter line.</summary>
internal sealed class JournalInitialized : IDeadLetterSuppression
{
    /// <summary>The one instance.</summary>
    public static readonly JournalInitialized Instance = new();

    private JournalInitialized()
    {
    }
}
