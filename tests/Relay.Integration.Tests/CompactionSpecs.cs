using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>A node with <c>Relay:Compaction:Mode=immer</c>, shared by <see cref="CompactionSpecs"/>; each test has a document of its own.</summary>
public sealed class CompactingNodeFixture : IAsyncLifetime
{
    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("compaction", extra: new Dictionary<string, string> { ["Relay:Compaction:Mode"] = "immer" });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>
/// Compaction against a real node (docs/operations.md, "Compaction"; docs/protocol.md, "Joining a compacted
/// document"): a joiner of a compacted document gets the snapshot as one patch that replaces the root, then the
/// patches after it; a patch that does not fold makes joiners replay the history again, and the metric counts the
/// document; with <c>DeleteCompacted</c> the covered journal rows go and joiners still converge.
/// </summary>
public sealed class CompactionSpecs : IClassFixture<CompactingNodeFixture>
{
    private const int Keys = 10;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly RelayNode _node;

    public CompactionSpecs(CompactingNodeFixture fixture) => _node = fixture.Node;

    [Fact]
    public async Task Should_join_a_compacted_document_with_one_root_replacement_then_the_tail_for_raw_and_relay_v1_clients()
    {
        var document = Unique("join");
        await using var writer = await RelayV1Client.ConnectAsync(Url(_node, document, "client=writer"));
        var (snapshot, written) = await WriteUntilSnapshotAsync(_node, writer, document, from: 1);
        var head = written + 3;
        await WriteAsync(writer, written + 1, head);
        var tail = (int)(head - snapshot);

        // The node's hub hears of the snapshot through the sequencer's heartbeat, a moment after the status names it.
        await UntilJoinersStartWithAsync(_node, document, text => text.Contains("\"path\":[]", StringComparison.Ordinal));

        // Raw: the snapshot's state in one patch, then the patches after it, byte for byte.
        await using var raw = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        var frames = await raw.ReceiveManyAsync(1 + tail, Patience);
        AssertReplacesRootWithStateAt(snapshot, frames[0].Text);
        Assert.Equal(Enumerable.Range((int)snapshot + 1, tail).Select(Patch), frames.Skip(1).Select(f => f.Text));
        Assert.Null(await raw.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));

        // relay.v1: the same patch numbered with the snapshot's sequence number, then the tail in order.
        await using var watcher = await RelayV1Client.ConnectAsync(Url(_node, document));
        Assert.False(watcher.Resumed);
        Assert.Equal(head, watcher.Head);
        var numbered = await watcher.ReceiveManyAsync(1 + tail, Patience);
        Assert.Equal(Enumerable.Range((int)snapshot, 1 + tail).Select(i => ("patch", (long)i)), numbered.Select(f => (f.Type, f.Seq)));
        AssertReplacesRootWithStateAt(snapshot, numbered[0].Text);

        // The writer again (one connection per client id at a time): its patches folded into the snapshot are
        // acknowledged at once, cumulatively, with the snapshot's sequence number; its later ones as always.
        await writer.DisposeAsync();
        await using var again = await RelayV1Client.ConnectAsync(Url(_node, document, "client=writer"));
        var own = await again.ReceiveManyAsync(2 + tail, Patience);
        Assert.Equal(("patch", snapshot), (own[0].Type, own[0].Seq));
        Assert.Equal(Enumerable.Range((int)snapshot, 1 + tail).Select(i => ("ack", (long)i, (long)i)),
            own.Skip(1).Select(f => (f.Type, f.Header.GetProperty("id").GetInt64(), f.Seq)));

        // A resume stays a resume from the journal.
        await using var resumed = await RelayV1Client.ConnectAsync(Url(_node, document, $"after={snapshot - 2}&epoch={watcher.Epoch}"));
        Assert.True(resumed.Resumed);
        Assert.Equal([snapshot - 1, snapshot, snapshot + 1], (await resumed.ReceiveManyAsync(3, Patience)).Select(f => f.Seq));
    }

    [Fact]
    public async Task Should_replay_the_whole_history_once_a_patch_does_not_fold_and_count_the_document()
    {
        var document = Unique("not-compactable");
        var before = await NotCompactableAsync(_node);
        await using var writer = await RelayV1Client.ConnectAsync(Url(_node, document, "client=writer"));
        var (_, written) = await WriteUntilSnapshotAsync(_node, writer, document, from: 1);

        await writer.SendTextAsync(written + 1, "this is not JSON");
        await WriteAsync(writer, written + 2, written + 2, acksAlreadyPending: 1);

        // Never dropped: journaled and relayed. The document is counted, and joiners replay it from the beginning.
        await Until(async () => (await StatusAsync(_node, document)).GetProperty("snapshot").GetInt64() == 0, "the snapshot to be withdrawn");
        await UntilJoinersStartWithAsync(_node, document, text => text == Patch(1));
        await Until(async () => await NotCompactableAsync(_node) == before + 1, "the document to be counted as not compactable");
        await using var raw = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document));
        var frames = await raw.ReceiveManyAsync((int)written + 2, Patience);
        Assert.Equal(Patch(1), frames[0].Text);
        Assert.Equal("this is not JSON", frames[(int)written].Text);
        Assert.Equal(Patch((int)written + 2), frames[^1].Text);
    }

    [Fact]
    public async Task Should_delete_the_journal_rows_snapshots_cover_when_asked_and_still_converge_joiners()
    {
        var folder = RepoPaths.NewTempFolder("compaction-delete");
        var database = Path.Combine(folder, "relay.db");
        await using var node = RelayNode.Sqlite("compaction-delete", database, new Dictionary<string, string>
        {
            ["Relay:Compaction:Mode"] = "immer",
            ["Relay:Compaction:DeleteCompacted"] = "true",
        });
        await node.StartAsync();
        var document = Unique("delete");
        await using var writer = await RelayV1Client.ConnectAsync(Url(node, document, "client=writer"));

        // Deletion trails one snapshot behind (a node may still read the journal after the previous one): write until
        // the first rows are gone.
        var head = 0L;
        await Until(async () =>
        {
            var current = (await StatusAsync(node, document)).GetProperty("snapshot").GetInt64();
            (_, head) = await WriteUntilSnapshotAsync(node, writer, document, head + 1, after: current);
            return await FirstRowAsync(database, document) > 1;
        }, "covered rows to be deleted");

        var first = await FirstRowAsync(database, document);
        await using var raw = await RelayClient.ConnectAsync(node.WebSocketUrlOf(document));
        var opening = await raw.ReceiveAsync(Patience);
        var snapshot = ReplacedRootSequence(opening.Text);
        Assert.True(snapshot >= first - 1, $"the joiner started at {snapshot}, but the journal starts at {first}");
        var state = JsonNode.Parse(opening.Text)![0]!["value"]!.AsObject();
        foreach (var frame in await raw.ReceiveManyAsync((int)(head - snapshot), Patience))
        {
            var patch = JsonNode.Parse(frame.Text)![0]!;
            state[patch["path"]![0]!.GetValue<string>()] = patch["value"]!.DeepClone();
        }

        Assert.True(JsonNode.DeepEquals(StateAt(head), state), $"expected {StateAt(head).ToJsonString()}, got {state.ToJsonString()}");

        // The history a resume from sequence 1 would need is gone: the client gets a full join from the snapshot.
        await using var late = await RelayV1Client.ConnectAsync(Url(node, document, $"after=1&epoch={writer.Epoch}"));
        Assert.False(late.Resumed);
        var restart = await late.ReceiveAsync(Patience);
        Assert.Equal(snapshot, restart.Seq);
        Assert.Equal(snapshot, ReplacedRootSequence(restart.Text));
    }

    [Fact]
    public async Task Should_fold_on_from_its_snapshot_after_a_restart_that_follows_a_SIGKILL()
    {
        var database = Path.Combine(RepoPaths.NewTempFolder("compaction-restart"), "relay.db");
        var settings = new Dictionary<string, string> { ["Relay:Compaction:Mode"] = "immer" };
        var document = Unique("restart");
        long written;
        string epoch;
        await using (var first = RelayNode.Sqlite("compaction-kill", database, settings))
        {
            await first.StartAsync();
            await using var writer = await RelayV1Client.ConnectAsync(Url(first, document, "client=writer"));
            epoch = writer.Epoch;
            (_, written) = await WriteUntilSnapshotAsync(first, writer, document, from: 1);
            await WriteAsync(writer, written + 1, written + 5);
            await first.KillAsync();
        }

        // The sequencer recovers the state from its snapshot and re-folds the tail after it; a later snapshot
        // holds everything, the patches from before the kill and after it.
        await using var second = RelayNode.Sqlite("compaction-restarted", database, settings);
        await second.StartAsync();
        await using var again = await RelayV1Client.ConnectAsync(Url(second, document, $"client=writer&after={written + 5}&epoch={epoch}"));
        Assert.True(again.Resumed);
        var before = (await StatusAsync(second, document)).GetProperty("snapshot").GetInt64();
        var (snapshot, head) = await WriteUntilSnapshotAsync(second, again, document, written + 6, after: before);
        await UntilJoinersStartWithAsync(second, document, text => text.Contains("\"path\":[]", StringComparison.Ordinal) && ReplacedRootSequence(text) >= snapshot);

        // The writer may have run past that snapshot before the node named it, so a later one may be saved by now:
        // the joiner starts from whichever is newest, and it too must hold the state at its sequence number.
        await using var raw = await RelayClient.ConnectAsync(second.WebSocketUrlOf(document));
        var replace = (await raw.ReceiveAsync(Patience)).Text;
        var joinedAt = ReplacedRootSequence(replace);
        Assert.InRange(joinedAt, snapshot, head);
        AssertReplacesRootWithStateAt(joinedAt, replace);
        Assert.True(joinedAt > written + 5, $"the snapshot at {joinedAt} was taken before the restart");
        Assert.Equal(head - joinedAt, (await raw.ReceiveManyAsync((int)(head - joinedAt), Patience)).Count);
    }

    // Each patch i replaces key k(i % 10) with a value that names i: the state at S holds the last ten patches up to S.
    private static string Patch(int i) =>
        "[{\"op\":\"replace\",\"path\":[\"k" + (i % Keys) + "\"],\"value\":{\"i\":" + i + ",\"text\":\"" + new string('x', 500) + "\"}}]";

    private static JsonObject StateAt(long sequence)
    {
        var state = new JsonObject();
        for (var i = 1; i <= sequence; i++)
        {
            state[$"k{i % Keys}"] = JsonNode.Parse(Patch(i))![0]!["value"]!.DeepClone();
        }

        return state;
    }

    private static long ReplacedRootSequence(string patch) =>
        JsonNode.Parse(patch)![0]!["value"]!.AsObject().Max(member => member.Value!["i"]!.GetValue<long>());

    private static void AssertReplacesRootWithStateAt(long sequence, string patch)
    {
        var replace = JsonNode.Parse(patch)!.AsArray();
        Assert.Single(replace);
        Assert.Equal("replace", replace[0]!["op"]!.GetValue<string>());
        Assert.Empty(replace[0]!["path"]!.AsArray());
        Assert.True(JsonNode.DeepEquals(StateAt(sequence), replace[0]!["value"]), $"not the state at {sequence}: {patch[..Math.Min(200, patch.Length)]}");
    }

    // Writes patches (id = sequence number: one writer per document) until the node names a snapshot past `after`;
    // returns it and the last patch written.
    private static async Task<(long Snapshot, long Written)> WriteUntilSnapshotAsync(RelayNode node, RelayV1Client writer, string document, long from, long after = 0)
    {
        var next = from;
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            await WriteAsync(writer, next, next + 9);
            next += 10;
            var snapshot = (await StatusAsync(node, document)).GetProperty("snapshot").GetInt64();
            if (snapshot > after)
            {
                return (snapshot, next - 1);
            }
        }

        throw new TimeoutException("no snapshot was taken");
    }

    private static async Task WriteAsync(RelayV1Client writer, long from, long to, int acksAlreadyPending = 0)
    {
        for (var i = from; i <= to; i++)
        {
            await writer.SendTextAsync(i, Patch((int)i));
        }

        var acks = await writer.ReceiveManyAsync((int)(to - from + 1) + acksAlreadyPending, Patience);
        Assert.All(acks, ack => Assert.Equal("ack", ack.Type));
        Assert.Equal(to, acks[^1].Seq);
    }

    private static async Task<long> FirstRowAsync(string database, string document)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT coalesce(min(sequence_number), 0) FROM journal WHERE persistence_id = $id AND deleted = 0";
        command.Parameters.AddWithValue("$id", "relay-history/" + document);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task<double> NotCompactableAsync(RelayNode node) =>
        (await Scrape.TakeAsync(node)).Value("relay_documents_not_compactable");

    private static async Task UntilJoinersStartWithAsync(RelayNode node, string document, Func<string, bool> first)
    {
        await Until(async () =>
        {
            await using var probe = await RelayClient.ConnectAsync(node.WebSocketUrlOf(document));
            return first((await probe.ReceiveAsync(Patience)).Text);
        }, "joiners to start as expected");
    }

    private static Task<JsonElement> StatusAsync(RelayNode node, string document) => node.StatusAsync(document);

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    private static Uri Url(RelayNode node, string document, string query = "") =>
        new(node.WebSocketUrlOf(document) + (query.Length > 0 ? "?" + query : string.Empty));

    private static string Unique(string name) => $"compaction/{name}-{Guid.NewGuid():N}";
}
