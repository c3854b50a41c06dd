#nullable enable
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using Relay.Actors.Messages;
using Relay.Actors.Journal;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// The journal warm-up a node runs at start (<see cref="Relay.Actors.Journal.JournalWarmUpActor"/>): it journals,
/// recovers and deletes one patch under the node's own persistence id, and leaves no history behind.
/// </summary>
public sealed class JournalWarmUpSpecs(ITestOutputHelper output) : RelaySpec(output)
{
    [Fact]
    public async Task Should_journal_and_delete_one_patch_under_the_nodes_own_id_when_the_node_starts()
    {
        var id = JournalWarmUp.PersistenceIdOf(Akka.Cluster.Cluster.Get(Sys).SelfAddress);

        // Deleted: the row stays only to keep the id's highest sequence number, and recovery skips it.
        await AwaitConditionAsync(async () => await RowsAsync(id) is [(1, true)], Patience, TimeSpan.FromMilliseconds(20));
    }

    [Fact]
    public async Task Should_let_the_node_read_the_patch_through_the_replay_path_before_deleting_it()
    {
        const string id = JournalWarmUp.PersistenceIdPrefix + "spec-read-back";
        IReadOnlyList<PatchAppended> read = [];
        List<(long, bool)> rowsWhileRead = [];

        await JournalWarmUp.RunAsync(Sys, id, Patience, readBack: async () =>
        {
            read = await new QueryPatchJournal(Sys, SqlReadJournal.Identifier).Read(id, 1).RunWith(Sink.Seq<PatchAppended>(), Sys.Materializer());
            rowsWhileRead = await RowsAsync(id);
        });

        var patch = Assert.Single(read);
        Assert.Equal(1, patch.Sequence);
        Assert.Equal("warm-up", patch.OriginConnectionId);
        Assert.Equal([(1L, false)], rowsWhileRead);
        Assert.Equal([(1L, true)], await RowsAsync(id));
    }

    private async Task<List<(long Sequence, bool Deleted)>> RowsAsync(string persistenceId)
    {
        await using var connection = new SqliteConnection(Node.Options.Journal.ConnectionString);
        await connection.OpenAsync();
        var query = connection.CreateCommand();
        query.CommandText = "SELECT sequence_number, deleted FROM journal WHERE persistence_id = $id ORDER BY sequence_number";
        query.Parameters.AddWithValue("$id", persistenceId);
        var rows = new List<(long, bool)>();
        await using var reader = await query.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetBoolean(1)));
        }

        return rows;
    }
}
