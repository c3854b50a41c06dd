#nullable enable
using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Config;
using Microsoft.Data.Sqlite;
using Relay.Actors.Diagnostics;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// The node's journal (<see cref="Relay.Actors.Journal.GroupCommitJournal"/> over Akka.Persistence.Sql on a real
/// SQLite file) under many persistent actors writing at once: their writes share commits, each gets its own
/// answer, and one write that cannot commit fails only its own actor. Its rows are the plugin's own, column for
/// column, so everything that reads the journal reads them as before.
/// </summary>
public sealed class GroupCommitJournalSpecs : RelaySpec, IDisposable
{
    private const int Writers = 30;
    private const int WritesEach = 10;
    private readonly MeterListener _listener = new();
    private int _largestCommit;

    public GroupCommitJournalSpecs(ITestOutputHelper output)
        : base(output)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RelayMetrics.MeterName && instrument.Name == "relay.journal.commit.writes")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((_, writes, _, _) => InterlockedMax(ref _largestCommit, writes));
        _listener.Start();
    }

    [Fact]
    public async Task Should_commit_the_writes_of_many_persistent_actors_together_and_journal_each_in_order()
    {
        var ids = Enumerable.Range(1, Writers).Select(i => $"group-commit-{i}").ToList();
        var writers = await StartWritersAsync(ids);
        writers.ForEach(writer => writer.Tell(new Write(WritesEach)));

        var done = await ReceiveAnswersAsync(Writers);
        Assert.All(done, message => Assert.IsType<Written>(message));
        Assert.Equal(ids.Order(), done.Cast<Written>().Select(written => written.PersistenceId).Order());

        // Each writer waited for each write's confirmation before the next, so many commits carried writes of
        // several actors: Akka.Persistence.Sql alone commits each write on its own.
        Assert.True(Volatile.Read(ref _largestCommit) >= 5, $"largest commit: {_largestCommit} writes");

        // The journal is the truth: each actor recovers exactly its own writes, in order.
        foreach (var id in ids)
        {
            Sys.ActorOf(Writer.Props(id, TestActor)).Tell(Recovered.Ask);
            var recovered = await ExpectMsgAsync<Recovered>(Patience);
            Assert.Equal(Enumerable.Range(1, WritesEach).Select(n => $"{id}:{n}"), recovered.Events);
        }
    }

    [Fact]
    public async Task Should_reject_only_the_write_that_cannot_be_serialized_when_it_shares_a_commit()
    {
        var busy = await StartWritersAsync(Enumerable.Range(1, Writers).Select(i => $"busy-{i}"));
        var odd = (await StartWritersAsync(["unserializable"]))[0];
        busy.ForEach(writer => writer.Tell(new Write(WritesEach)));

        // The journal is busy with the others' writes when this one arrives, so it waits and joins a group.
        await AwaitRowsAsync("busy-%", Writers);
        odd.Tell(WriteUnserializable.Instance);

        var answers = await ReceiveAnswersAsync(Writers + 1);
        Assert.Single(answers.OfType<Rejected>(), rejected => rejected.PersistenceId == "unserializable");
        Assert.Equal(Writers, answers.OfType<Written>().Count());
    }

    [Fact]
    public async Task Should_fail_only_the_write_that_cannot_commit_when_its_group_fails()
    {
        var doomed = Sys.ActorOf(Writer.Props("doomed", TestActor));
        doomed.Tell(new Write(1));
        await ExpectMsgAsync<Written>(Patience);

        // A second writer of the doomed actor's next sequence number got there first (as after a split brain):
        // its next write breaks the journal's unique key, and with it the transaction of whatever shares it.
        await InsertRowAsync("doomed", 2);

        var busy = await StartWritersAsync(Enumerable.Range(1, Writers).Select(i => $"bystander-{i}"));
        busy.ForEach(writer => writer.Tell(new Write(WritesEach)));
        await AwaitRowsAsync("bystander-%", Writers);
        doomed.Tell(new Write(1));

        var answers = await ReceiveAnswersAsync(Writers + 1);
        Assert.Single(answers.OfType<Failed>(), failed => failed.PersistenceId == "doomed");
        Assert.Equal(Writers, answers.OfType<Written>().Count());
    }

    [Fact]
    public async Task Should_write_each_row_exactly_as_Akka_Persistence_Sql_writes_it()
    {
        // The same events through this journal and through the plugin's own write journal (a second actor system on
        // the same file, the plugin's class in place of Relay's): Relay's events and one of another serializer.
        var events = new object[]
        {
            new PatchAppended(1, "client/w", 7, Text("""[{"op":"add","path":["a"],"value":1}]"""), IsText: true),
            new PatchAppended(2, "raw-connection", 1, new byte[] { 0, 1, 2, 255 }, IsText: false),
            "a string event",
        };
        // The node's own settings take Relay's SQLite path, not the plugin's.
        var settings = Sys.Settings.Config.GetConfig("akka.persistence.journal.sql").WithFallback(SqlPersistence.DefaultJournalConfiguration);
        Assert.True(SqliteJournalWriter.Fits(new JournalConfig(settings)));

        var before = DateTime.UtcNow.Ticks;
        Sys.ActorOf(Writer.Props("rows-relay", TestActor)).Tell(new WriteEvents(events));
        await ExpectMsgAsync<Written>(Patience);

        var pluginConfig = ConfigurationFactory
            .ParseString("""
                akka.actor.provider = local
                akka.persistence.journal.sql.class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
                """)
            .WithFallback(Sys.Settings.Config);
        var plugin = ActorSystem.Create("plugin", Sys.Settings.Setup.And(BootstrapSetup.Create().WithConfig(pluginConfig)));
        try
        {
            var probe = CreateTestProbe(plugin);
            plugin.ActorOf(Writer.Props("rows-plugin", probe.Ref)).Tell(new WriteEvents(events));
            await probe.ExpectMsgAsync<Written>(Patience);
        }
        finally
        {
            await plugin.Terminate();
        }

        var after = DateTime.UtcNow.Ticks;
        var relay = await ReadRowsAsync("rows-relay");
        Assert.Equal(events.Length, relay.Count);
        Assert.Equal(string.Join("\n", await ReadRowsAsync("rows-plugin")), string.Join("\n", relay));

        // The time in ticks (DocumentIndex reads it so), the write's own.
        Assert.All(await ReadCreatedAsync(), created => Assert.InRange(created, before, after));

        // And the plugin reads the rows back: recovery on the node's own journal.
        Sys.ActorOf(Writer.Props("rows-relay", TestActor)).Tell(Recovered.Ask);
        var recovered = await ExpectMsgAsync<Recovered>(Patience);
        Assert.Equal(events.Select(e => e.ToString()), recovered.Events);
    }

    public new void Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }

    /// <summary>Writers that have recovered, so their first writes reach the journal together when told.</summary>
    private async Task<List<IActorRef>> StartWritersAsync(IEnumerable<string> ids)
    {
        var writers = ids.Select(id => Sys.ActorOf(Writer.Props(id, TestActor))).ToList();
        writers.ForEach(writer => writer.Tell(Recovered.Ask));
        await ReceiveAnswersAsync(writers.Count);
        return writers;
    }

    private async Task<List<object>> ReceiveAnswersAsync(int count)
    {
        var answers = new List<object>();
        while (answers.Count < count)
        {
            answers.Add(await ExpectMsgAsync<object>(Patience * 3));
        }

        return answers;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen)
        {
            var previous = Interlocked.CompareExchange(ref target, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    /// <summary>Waits until the journal holds <paramref name="count"/> rows of the persistence ids matching <paramref name="pattern"/>.</summary>
    private async Task AwaitRowsAsync(string pattern, int count)
    {
        await AwaitConditionAsync(
            async () =>
            {
                await using var connection = OpenJournal();
                await connection.OpenAsync();
                var rows = connection.CreateCommand();
                rows.CommandText = "SELECT COUNT(*) FROM journal WHERE persistence_id LIKE $pattern";
                rows.Parameters.AddWithValue("$pattern", pattern);
                return (long)(await rows.ExecuteScalarAsync())! >= count;
            },
            Patience,
            TimeSpan.FromMilliseconds(5));
    }

    /// <summary>
    /// Each row of <paramref name="persistenceId"/>, every column but its ordering, time and id, with their types, in
    /// order; of the writer's uuid (one per journal actor, so another for each), its length.
    /// </summary>
    private async Task<List<string>> ReadRowsAsync(string persistenceId)
    {
        await using var connection = OpenJournal();
        await connection.OpenAsync();
        var select = connection.CreateCommand();
        select.CommandText = "SELECT * FROM journal WHERE persistence_id = $id ORDER BY sequence_number";
        select.Parameters.AddWithValue("$id", persistenceId);
        var rows = new List<string>();
        await using var reader = await select.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var columns = Enumerable.Range(0, reader.FieldCount)
                .Where(i => reader.GetName(i) is not ("ordering" or "created" or "persistence_id"))
                .Select(i => reader.GetName(i) == "writer_uuid"
                    ? $"writer_uuid of {reader.GetString(i).Length} hex digits:{reader.GetDataTypeName(i)}"
                    : $"{reader.GetName(i)}={Describe(reader.GetValue(i))}:{reader.GetDataTypeName(i)}");
            rows.Add(string.Join(", ", columns));
        }

        return rows;
    }

    private static string Describe(object value) => value switch
    {
        byte[] bytes => Convert.ToHexString(bytes),
        DBNull => "NULL",
        _ => $"{value} ({value.GetType().Name})",
    };

    private async Task<List<long>> ReadCreatedAsync()
    {
        await using var connection = OpenJournal();
        await connection.OpenAsync();
        var select = connection.CreateCommand();
        select.CommandText = "SELECT created FROM journal WHERE persistence_id IN ('rows-relay', 'rows-plugin')";
        var created = new List<long>();
        await using var reader = await select.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            created.Add(reader.GetInt64(0));
        }

        return created;
    }

    private SqliteConnection OpenJournal() =>
        new(Node.Options.Journal.ConnectionString);

    private async Task InsertRowAsync(string persistenceId, long sequenceNumber)
    {
        await using var connection = OpenJournal();
        await connection.OpenAsync();
        var insert = connection.CreateCommand();
        insert.CommandText =
            "INSERT INTO journal (created, deleted, persistence_id, sequence_number, message) VALUES (0, 0, $id, $sequence, x'00')";
        insert.Parameters.AddWithValue("$id", persistenceId);
        insert.Parameters.AddWithValue("$sequence", sequenceNumber);
        await insert.ExecuteNonQueryAsync();
    }

    private sealed record Write(int Count);

    private sealed record WriteEvents(IReadOnlyList<object> Events);

    private sealed record Written(string PersistenceId);

    private sealed record Rejected(string PersistenceId);

    private sealed record Failed(string PersistenceId);

    private sealed record Recovered(IReadOnlyList<string> Events)
    {
        public static readonly object Ask = new();
    }

    private sealed class WriteUnserializable
    {
        public static readonly WriteUnserializable Instance = new();
    }

    /// <summary>An event the journal's serializer cannot write: reading its value throws.</summary>
    private sealed class Unserializable
    {
        public string Value => throw new InvalidOperationException("not serializable");
    }

    /// <summary>A persistent actor that journals its writes one at a time, each after the last one's confirmation.</summary>
    private sealed class Writer : ReceivePersistentActor
    {
        private readonly IActorRef _report;
        private readonly List<string> _events = new();

        public Writer(string persistenceId, IActorRef report)
        {
            PersistenceId = persistenceId;
            _report = report;
            Recover<string>(_events.Add);
            Recover<PatchAppended>(recovered => _events.Add(recovered.ToString()));
            Command<Write>(write => WriteNext(write.Count));
            Command<WriteEvents>(write => PersistAll(write.Events, _ =>
            {
                if (LastSequenceNr == write.Events.Count)
                {
                    _report.Tell(new Written(PersistenceId));
                }
            }));
            Command<WriteUnserializable>(_ => Persist(new Unserializable(), _ => _report.Tell(new Written(PersistenceId))));
            Command<object>(message => message == Recovered.Ask, _ => _report.Tell(new Recovered(_events.ToList())));
        }

        public override string PersistenceId { get; }

        public static Props Props(string persistenceId, IActorRef report) => Akka.Actor.Props.Create(() => new Writer(persistenceId, report));

        protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
        {
            base.OnPersistRejected(cause, @event, sequenceNr);
            _report.Tell(new Rejected(PersistenceId));
        }

        protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
        {
            _report.Tell(new Failed(PersistenceId));
            base.OnPersistFailure(cause, @event, sequenceNr);
        }

        private void WriteNext(int left)
        {
            Persist($"{PersistenceId}:{_events.Count + 1}", written =>
            {
                _events.Add(written);
                if (left > 1)
                {
                    WriteNext(left - 1);
                }
                else
                {
                    _report.Tell(new Written(PersistenceId));
                }
            });
        }
    }
}
