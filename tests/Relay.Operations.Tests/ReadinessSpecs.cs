using System.Net;
using Microsoft.Data.Sqlite;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary><c>/readyz</c> answers 503 and names what is missing.</summary>
public sealed class ReadinessSpecs
{
    [Fact]
    public async Task Should_name_cluster_and_history_missing_while_the_node_has_not_joined()
    {
        // A seed nobody listens on: the node never becomes a member, so no sequencer runs anywhere it can see.
        var nowhere = $"akka.tcp://relay@127.0.0.1:{FreePort.Next()}";
        await using var node = RelayNode.Sqlite("ops-unjoined", extra: new Dictionary<string, string> { ["Relay:Akka:SeedNodes:0"] = nowhere });
        await node.StartAsync(waitUntilReady: false);

        (HttpStatusCode Status, System.Text.Json.JsonElement Json) ready = default;
        var answered = await Http.EventuallyAsync(async () =>
        {
            try
            {
                ready = await Http.GetJsonAsync(node, "/readyz");
                return true;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60));

        Assert.True(answered, node.Output);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Status);
        Assert.Contains("cluster", Http.Missing(ready.Json));
        Assert.Contains("history", Http.Missing(ready.Json));
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(node, "/healthz")).Status);
    }

    [Fact]
    public async Task Should_name_the_journal_missing_when_it_does_not_answer()
    {
        var database = Path.Combine(RepoPaths.NewTempFolder("ops-journal"), "relay.db");
        await using var node = RelayNode.Sqlite("ops-journal", database);
        await node.StartAsync();
        Assert.Equal(HttpStatusCode.OK, await Http.ReadyStatusAsync(node));

        // The journal's table disappears under the running node: its queries fail from now on.
        await using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "DROP TABLE journal;";
            await command.ExecuteNonQueryAsync();
        }

        (HttpStatusCode Status, System.Text.Json.JsonElement Json) ready = default;
        var missing = await Http.EventuallyAsync(async () =>
        {
            ready = await Http.GetJsonAsync(node, "/readyz");
            return ready.Status == HttpStatusCode.ServiceUnavailable;
        }, TimeSpan.FromSeconds(15));

        Assert.True(missing, ready.Json.ToString());
        Assert.Equal(["journal"], Http.Missing(ready.Json));

        // The body is public: no exception text, which names files, tables or hosts.
        var body = ready.Json.GetRawText();
        Assert.Equal("failed; see the node's log", ready.Json.GetProperty("checks").GetProperty("journal").GetProperty("description").GetString());
        Assert.DoesNotContain(Path.GetFileName(Path.GetDirectoryName(database)!), body, StringComparison.Ordinal);
        Assert.DoesNotContain("no such table", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SQLite", body, StringComparison.OrdinalIgnoreCase);
    }
}
