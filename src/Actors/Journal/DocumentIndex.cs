#nullable enable
using Relay.Actors.Documents;
using Relay.Actors.Hosting;

namespace Relay.Actors.Journal;

/// <summary>
/// The documents the journal holds, by name: one query on Akka.Persistence.Sql's journal table per page, a range of
/// its unique (persistence_id, sequence_number) index, so a page costs its own rows, not the whole journal. The only
/// SQL of Relay's own; the table and its columns are the plugin's (<c>table-mapping = default</c>).
/// </summary>
internal sealed class DocumentIndex
{
    private readonly JournalSql _sql;

    public DocumentIndex(JournalOptions journal) => _sql = new JournalSql(journal);

    /// <summary>
    /// The documents whose names start with <paramref name="prefix"/>, in name order (ordinal), after
    /// <paramref name="cursor"/> (an earlier page's; null: from the first), reading at most <paramref name="limit"/>
    /// of the journal's histories, and the cursor of the next page (null: none follows). A name too long for the
    /// journal's column is kept hashed and cannot be named: it is read past and not listed, so a page may hold fewer.
    /// </summary>
    public async Task<(IReadOnlyList<KnownDocument> Documents, string? Next)> ListAsync(string prefix, string? cursor, int limit, CancellationToken cancellation)
    {
        var (start, end) = JournalSql.RangeOf(prefix);
        var after = cursor is not null && string.CompareOrdinal(cursor, start) >= 0;
        // Persistence ids of documents sort as their names (one common start), compared as bytes. The start is
        // inclusive on a first page, exclusive after a cursor.
        var bytes = _sql.ByteOrder;
        var sql = $"""
            SELECT persistence_id, MAX(sequence_number), MAX(created) FROM journal
            WHERE persistence_id{bytes} {(after ? ">" : ">=")} @from AND persistence_id{bytes} < @end
            GROUP BY persistence_id ORDER BY persistence_id{bytes} LIMIT @limit
            """;
        await using var connection = _sql.Open();
        await connection.OpenAsync(cancellation).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        JournalSql.Add(command, "@from", after ? cursor! : start);
        JournalSql.Add(command, "@end", end);
        JournalSql.Add(command, "@limit", limit);
        var documents = new List<KnownDocument>();
        string? last = null;
        var rows = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellation).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellation).ConfigureAwait(false))
        {
            rows++;
            last = reader.GetString(0);
            if (DocumentName.TryFromPersistenceId(last, out var document) && !document.IsDefault)
            {
                documents.Add(new KnownDocument(document, reader.GetInt64(1), new DateTime(reader.GetInt64(2), DateTimeKind.Utc)));
            }
        }

        return (documents, rows == limit ? last : null);
    }
}
