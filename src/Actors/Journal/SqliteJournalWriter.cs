#nullable enable
using System.Collections.Immutable;
using System.Data;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Sql.Config;
using Akka.Serialization;
using Akka.Util;
using Microsoft.Data.Sqlite;

namespace Relay.Actors.Journal;

/// <summary>One journal row as Akka.Persistence.Sql 1.5.73 writes it (its <c>JournalRow</c>, the columns it maps).</summary>
internal sealed record JournalInsert(string PersistenceId, long SequenceNumber, byte[] Message, string Manifest, int Identifier, long Created);

/// <summary>The plugin's <c>writer_uuid</c>: a new one for each journal actor, as <c>SqlWriteJournal</c> takes it.</summary>
internal static class JournalWriterUuid
{
    public static string New() => Guid.NewGuid().ToString("N");
}

/// <summary>
/// Akka.Persistence.Sql 1.5.73's row format for a write (<c>ByteArrayJournalSerializer</c> over
/// <c>PersistentRepresentationSerializer</c>): the payload's serializer as the system binds it, falling back to the
/// journal's <c>serializer</c> setting; the serializer's id; its string manifest, the type's qualified name for a
/// serializer that includes one, else empty; the representation's own timestamp, else the write's. An atomic write
/// of which one event cannot be serialized is rejected whole, and its rows are not written.
/// </summary>
internal sealed class JournalRowSerializer
{
    private readonly ExtendedActorSystem _system;
    private readonly string? _defaultSerializer;

    public JournalRowSerializer(ExtendedActorSystem system, string? defaultSerializer)
    {
        _system = system;
        _defaultSerializer = defaultSerializer;
    }

    /// <summary>Whether any event of <paramref name="writes"/> carries tags (the plugin writes those to its tag table).</summary>
    public static bool AnyTagged(IEnumerable<AtomicWrite> writes) =>
        writes.Any(write => write.Payload is IImmutableList<IPersistentRepresentation> events && events.Any(e => e.Payload is Tagged));

    /// <summary>
    /// The rows of <paramref name="writes"/> in order, and one entry per write: null, or why it was rejected (as the
    /// plugin answers <c>WriteMessagesAsync</c>). <paramref name="created"/> is the write's time in ticks.
    /// </summary>
    public (List<JournalInsert> Rows, IImmutableList<Exception?> Rejections) Serialize(IReadOnlyList<AtomicWrite> writes, long created)
    {
        var rows = new List<JournalInsert>(writes.Count);
        var rejections = new Exception?[writes.Count];
        for (var i = 0; i < writes.Count; i++)
        {
            var write = writes[i];
            if (write.Payload is not IImmutableList<IPersistentRepresentation> events)
            {
                rejections[i] = new ArgumentNullException(
                    $"{write.PersistenceId} received empty payload for sequenceNr range {write.LowestSequenceNr} - {write.HighestSequenceNr}");
                continue;
            }

            var start = rows.Count;
            try
            {
                foreach (var representation in events)
                {
                    rows.Add(Row(representation, created));
                }
            }
            catch (Exception e)
            {
                // The plugin's Try: whatever a serializer throws rejects this write, never the others.
                rows.RemoveRange(start, rows.Count - start);
                rejections[i] = e;
            }
        }

        return (rows, ImmutableList.Create(rejections));
    }

    private JournalInsert Row(IPersistentRepresentation representation, long created) =>
        Akka.Serialization.Serialization.WithTransport(_system, (representation, created, this), static state =>
        {
            var (representation, created, self) = state;
            var payload = representation.Payload;
            var serializer = self._system.Serialization.FindSerializerForType(payload.GetType(), self._defaultSerializer);
            var manifest = serializer switch
            {
                SerializerWithStringManifest stringManifest => stringManifest.Manifest(payload),
                { IncludeManifest: true } => payload.GetType().TypeQualifiedName(),
                _ => string.Empty,
            };
            return new JournalInsert(
                representation.PersistenceId,
                representation.SequenceNr,
                serializer.ToBinary(payload),
                manifest,
                serializer.Identifier,
                representation.Timestamp == 0 ? created : representation.Timestamp);
        });
}

/// <summary>
/// Writes journal rows to SQLite with one prepared, parameterized <c>INSERT</c>, reused for every row of every
/// commit, into Akka.Persistence.Sql's table and columns (from the journal's own configuration): the plugin's
/// multi-row insert builds every batch as new SQL text with each payload as a hex literal, which SQLite then parses
/// (BENCHMARKS.md, "Durable ingest"). One transaction per call, begun with the plugin's <c>write-isolation-level</c>
/// as the plugin begins it, committed as durably as the connection string and the file say, so the same as before.
/// Not thread-safe by design of its callers, but guarded: calls are taken one at a time.
/// </summary>
internal sealed class SqliteJournalWriter : IDisposable
{
    private readonly string _connectionString;
    private readonly IsolationLevel _isolationLevel;
    private readonly string _insertSql;
    private readonly string? _writerUuid;
    private readonly object _gate = new();
    private SqliteConnection? _connection;
    private Insert? _insert;

    /// <summary>A writer of <paramref name="config"/>'s table; <paramref name="writerUuid"/> fills its writer-uuid column, if it has one.</summary>
    public SqliteJournalWriter(JournalConfig config, string writerUuid)
    {
        _connectionString = config.ConnectionString;
        _isolationLevel = config.WriteIsolationLevel;
        var table = config.TableConfig.EventJournalTable;
        var columns = table.ColumnNames;

        // The columns the plugin maps with its default tag mode (tag table) and no event-manifest column: ordering
        // is the table's identity, assigned by SQLite; deleted is false for a new row; writer_uuid where the table
        // mapping has it (the default mapping does).
        _writerUuid = table.UseWriterUuidColumn ? writerUuid : null;
        var uuidColumn = _writerUuid is null ? "" : ", " + Quote(columns.WriterUuid);
        var uuidValue = _writerUuid is null ? "" : ", @writer_uuid";
        _insertSql =
            $"INSERT INTO {Quote(table.Name)} ({Quote(columns.Deleted)}, {Quote(columns.Manifest)}, {Quote(columns.Message)}, " +
            $"{Quote(columns.Identifier)}, {Quote(columns.PersistenceId)}, {Quote(columns.SequenceNumber)}, {Quote(columns.Created)}{uuidColumn}) " +
            $"VALUES (@deleted, @manifest, @message, @identifier, @persistence_id, @sequence_number, @created{uuidValue})";
    }

    /// <summary>
    /// Whether this writer writes rows exactly as the plugin would with <paramref name="config"/>: SQLite, no schema
    /// (SQLite has none), tags in the tag table (so no tags column), no event-manifest column.
    /// </summary>
    public static bool Fits(JournalConfig config) =>
        config.ProviderName?.Contains("sqlite", StringComparison.OrdinalIgnoreCase) == true
        && config.DataOptions is null
        && config.TableConfig.SchemaName is null
        && config.PluginConfig.TagMode == TagMode.TagTable
        && !config.TableConfig.UseEventManifestColumn;

    /// <summary>Inserts <paramref name="rows"/> in one transaction; returns once it committed, throws if it did not.</summary>
    public void Write(IReadOnlyList<JournalInsert> rows)
    {
        lock (_gate)
        {
            var insert = _insert ?? Open();
            try
            {
                using var transaction = _connection!.BeginTransaction(_isolationLevel);
                insert.Command.Transaction = transaction;
                foreach (var row in rows)
                {
                    insert.Bind(row);
                    insert.Command.ExecuteNonQuery();
                }

                transaction.Commit();
            }
            catch
            {
                // Whatever failed (a broken key, a full disk, a lost file), the next commit starts on a new connection.
                Close();
                throw;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            Close();
        }
    }

    private Insert Open()
    {
        _connection = new SqliteConnection(_connectionString);
        _connection.Open();
        var command = _connection.CreateCommand();
        command.CommandText = _insertSql;
        _insert = new Insert(command, _writerUuid);
        command.Prepare();
        return _insert;
    }

    private void Close()
    {
        _insert?.Command.Dispose();
        _insert = null;
        _connection?.Dispose();
        _connection = null;
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The prepared statement and its parameters, bound anew for each row.</summary>
    private sealed class Insert
    {
        private readonly SqliteParameter _manifest;
        private readonly SqliteParameter _message;
        private readonly SqliteParameter _identifier;
        private readonly SqliteParameter _persistenceId;
        private readonly SqliteParameter _sequenceNumber;
        private readonly SqliteParameter _created;

        public Insert(SqliteCommand command, string? writerUuid)
        {
            Command = command;
            command.Parameters.Add("@deleted", SqliteType.Integer).Value = false;
            if (writerUuid is not null)
            {
                command.Parameters.Add("@writer_uuid", SqliteType.Text).Value = writerUuid;
            }

            _manifest = command.Parameters.Add("@manifest", SqliteType.Text);
            _message = command.Parameters.Add("@message", SqliteType.Blob);
            _identifier = command.Parameters.Add("@identifier", SqliteType.Integer);
            _persistenceId = command.Parameters.Add("@persistence_id", SqliteType.Text);
            _sequenceNumber = command.Parameters.Add("@sequence_number", SqliteType.Integer);
            _created = command.Parameters.Add("@created", SqliteType.Integer);
        }

        public SqliteCommand Command { get; }

        public void Bind(JournalInsert row)
        {
            _manifest.Value = row.Manifest;
            _message.Value = row.Message;
            _identifier.Value = row.Identifier;
            _persistenceId.Value = row.PersistenceId;
            _sequenceNumber.Value = row.SequenceNumber;
            _created.Value = row.Created;
        }
    }
}
