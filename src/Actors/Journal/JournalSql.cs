#nullable enable
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using Relay.Actors.Hosting;

namespace Relay.Actors.Journal;

/// <summary>
/// Relay's own SQL on Akka.Persistence.Sql's tables (<c>table-mapping = default</c>: <c>journal</c>, <c>tags</c>,
/// <c>snapshot</c>), for what the plugin has no query for: the document list (<see cref="DocumentIndex"/>), deleting
/// a whole history (<see cref="PurgeAsync"/>) and finding what retention may drop (<see cref="RetentionCandidatesAsync"/>).
/// </summary>
internal sealed class JournalSql
{
    private readonly JournalOptions _journal;

    public JournalSql(JournalOptions journal) => _journal = journal;

    /// <summary>Whether the journal is SQLite (else PostgreSQL).</summary>
    public bool IsSqlite => _journal.IsSqlite;

    /// <summary>
    /// Appended to <c>persistence_id</c> where it is compared or sorted: byte order (ordinal) on both databases, as
    /// document names compare (PostgreSQL would use the database's collation unless told).
    /// </summary>
    public string ByteOrder => _journal.IsSqlite ? "" : " COLLATE \"C\"";

    /// <summary>
    /// The persistence ids of the documents whose names start with <paramref name="prefix"/>: from
    /// <c>Start</c> (inclusive; a document may be named the prefix itself) to <c>End</c> (exclusive), in byte order.
    /// </summary>
    public static (string Start, string End) RangeOf(string prefix)
    {
        var start = Documents.DocumentName.PersistenceIdPrefixOf(prefix);
        return (start, start + '\uffff');
    }

    /// <summary>A new, closed connection to the journal's database.</summary>
    public DbConnection Open() =>
        _journal.IsSqlite ? new SqliteConnection(_journal.ConnectionString) : new NpgsqlConnection(_journal.ConnectionString);

    /// <summary>Adds the parameter <paramref name="name"/> to <paramref name="command"/>.</summary>
    public static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>
    /// Deletes every journal row (the one the plugin keeps, marked deleted, to remember the highest sequence number
    /// included), tag row and snapshot of <paramref name="persistenceId"/>, in one transaction: its next history starts
    /// at sequence number 1. Returns the journal rows deleted.
    /// </summary>
    public async Task<int> PurgeAsync(string persistenceId, CancellationToken cancellation)
    {
        await using var connection = Open();
        await connection.OpenAsync(cancellation).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellation).ConfigureAwait(false);
        var rows = 0;
        foreach (var table in new[] { "journal", "tags", "snapshot" })
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"DELETE FROM {table} WHERE persistence_id = @id";
            Add(command, "@id", persistenceId);
            var deleted = await command.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
            if (table == "journal")
            {
                rows = deleted;
            }
        }

        await transaction.CommitAsync(cancellation).ConfigureAwait(false);
        return rows;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> persistence ids of the documents under <paramref name="prefix"/> (<see cref="RangeOf"/>),
    /// after <paramref name="from"/> (null: from the first), in byte order, each with the sequence
    /// number a retention policy would trim it before: past its last <paramref name="keepLast"/> events, and past its
    /// events journaled before <paramref name="writtenBefore"/> (the later of the two where both are set, so both
    /// hold). Only histories with something to drop are returned; and the number of rows read, to page on.
    /// </summary>
    public async Task<(IReadOnlyList<(string PersistenceId, long Before)> Candidates, int Rows, string? Last)> RetentionCandidatesAsync(
        string prefix, string? from, int limit, long? keepLast, DateTime? writtenBefore, CancellationToken cancellation)
    {
        var (start, end) = RangeOf(prefix);
        var bytes = ByteOrder;
        var live = _journal.IsSqlite ? "deleted = 0" : "NOT deleted";
        var old = writtenBefore is null ? "0" : "MAX(CASE WHEN created < @cutoff THEN sequence_number ELSE 0 END)";
        var sql = $"""
            SELECT persistence_id, MIN(sequence_number), MAX(sequence_number), {old} FROM journal
            WHERE persistence_id{bytes} {(from is null ? ">=" : ">")} @from AND persistence_id{bytes} < @end AND {live}
            GROUP BY persistence_id ORDER BY persistence_id{bytes} LIMIT @limit
            """;
        await using var connection = Open();
        await connection.OpenAsync(cancellation).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        Add(command, "@from", from ?? start);
        Add(command, "@end", end);
        Add(command, "@limit", limit);
        if (writtenBefore is { } cutoff)
        {
            Add(command, "@cutoff", cutoff.Ticks);
        }

        var candidates = new List<(string, long)>();
        var rows = 0;
        string? last = null;
        await using var reader = await command.ExecuteReaderAsync(cancellation).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellation).ConfigureAwait(false))
        {
            rows++;
            last = reader.GetString(0);
            var (first, head, lastOld) = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
            var byCount = keepLast is { } keep ? head - keep + 1 : long.MaxValue;
            var byAge = writtenBefore is null ? long.MaxValue : lastOld + 1;
            var before = Math.Min(byCount, byAge);
            if (before > first && before != long.MaxValue)
            {
                candidates.Add((last, before));
            }
        }

        return (candidates, rows, last);
    }
}
