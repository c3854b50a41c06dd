using System.Net;
using Microsoft.Data.Sqlite;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary>
/// A row missing from the journal (deleted, or lost by the database) while later rows are there: delivery passes
/// it once it has lasted <c>Relay:Journal:SkipGapAfter</c>, and the node reports it once. A real Gateway process on
/// a real SQLite file, whose journal table the spec edits between two runs.
/// </summary>
public sealed class JournalHoleSpecs
{
    private const int Total = 301;
    private const int Missing = 150;
    private const string Document = "holes/doc";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Should_deliver_past_a_row_missing_from_the_journal_and_report_the_hole_once()
    {
        var database = Path.Combine(RepoPaths.NewTempFolder("ops-holes"), "relay.db");
        var expected = Enumerable.Range(1, Total).Select(i => $"h{i:D3}").ToList();
        await using (var first = RelayNode.Sqlite("holes-1", database))
        {
            await first.StartAsync();
            await using var sender = await RelayClient.ConnectAsync(first.WebSocketUrlOf(Document));
            await using var watcher = await RelayClient.ConnectAsync(first.WebSocketUrlOf(Document));
            foreach (var patch in expected)
            {
                await sender.SendTextAsync(patch);
            }

            await watcher.ReceiveManyAsync(Total, Patience);
            var (exitCode, _) = await first.TerminateAsync();
            Assert.True(exitCode == 0, first.Output);
        }

        Assert.Equal(1, await DeleteRowAsync(database, "relay-history/" + Document, Missing));

        var settings = new Dictionary<string, string> { ["Relay:Journal:SkipGapAfter"] = "00:00:01" };
        await using var second = RelayNode.Sqlite("holes-2", database, settings);
        await second.StartAsync();
        Assert.Equal(HttpStatusCode.OK, await Http.ReadyStatusAsync(second));

        // Several joiners meet the hole at once: each gets the history without it, in order.
        var joiners = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RelayClient.ConnectAsync(second.WebSocketUrlOf(Document))));
        try
        {
            var remaining = expected.Where((_, i) => i + 1 != Missing).ToList();
            foreach (var joiner in joiners)
            {
                Assert.Equal(remaining, (await joiner.ReceiveManyAsync(Total - 1, Patience)).Select(m => m.Text));
            }

            // Live patches flow after it, to every client.
            await joiners[0].SendTextAsync("live-after-the-hole");
            foreach (var joiner in joiners.Skip(1))
            {
                Assert.Equal("live-after-the-hole", (await joiner.ReceiveAsync(TimeSpan.FromSeconds(15))).Text);
            }

            await using var late = await RelayClient.ConnectAsync(second.WebSocketUrlOf(Document));
            Assert.Equal(
                remaining.Append("live-after-the-hole"),
                (await late.ReceiveManyAsync(Total, Patience)).Select(m => m.Text));
        }
        finally
        {
            foreach (var joiner in joiners)
            {
                await joiner.DisposeAsync();
            }
        }

        // Serving, so 200; Degraded, with the hole named, and counted once for the four readers.
        var (status, ready) = await Http.GetJsonAsync(second, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", ready.GetProperty("status").GetString());
        Assert.Empty(Http.Missing(ready));
        var holes = ready.GetProperty("checks").GetProperty("holes");
        Assert.Equal("Degraded", holes.GetProperty("status").GetString());
        var hole = Assert.Single(holes.GetProperty("data").GetProperty("holes").EnumerateArray());
        Assert.Equal((Document, Missing, Missing), (hole.GetProperty("document").GetString(), hole.GetProperty("from").GetInt32(), hole.GetProperty("to").GetInt32()));
        Assert.Equal(1, (await Scrape.TakeAsync(second)).Value("relay_journal_holes_total"));
    }

    private static async Task<int> DeleteRowAsync(string database, string persistenceId, long sequence)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM journal WHERE persistence_id = $id AND sequence_number = $sequence;";
        command.Parameters.AddWithValue("$id", persistenceId);
        command.Parameters.AddWithValue("$sequence", sequence);
        return await command.ExecuteNonQueryAsync();
    }
}
