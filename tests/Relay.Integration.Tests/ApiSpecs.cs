using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>One node with the server API on (three keys), compaction and socket tokens, on its own SQLite file.</summary>
public sealed class ApiNodeFixture : IAsyncLifetime
{
    /// <summary>The key that may do everything.</summary>
    public const string AdminKey = "admin-key-0123456789abcdef";

    /// <summary>A read-only key.</summary>
    public const string ReaderKey = "reader-key-0123456789abcdef";

    /// <summary>A key limited to documents under <c>boards/</c>.</summary>
    public const string BoardsKey = "boards-key-0123456789abcdef";

    /// <summary>What WebSocket clients present.</summary>
    public const string SocketToken = "socket-token-0123456789abcdef";

    /// <summary>The node's journal.</summary>
    public string Database { get; } = Path.Combine(Path.GetTempPath(), "relay-tests", $"api-{Guid.NewGuid():N}.db");

    /// <summary>The node.</summary>
    public RelayNode Node { get; }

    /// <summary>Creates the fixture.</summary>
    public ApiNodeFixture()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Database)!);
        Node = RelayNode.Sqlite("api", Database, new Dictionary<string, string>
        {
            ["Relay:Api:Keys:0:Name"] = "admin",
            ["Relay:Api:Keys:0:Secret"] = AdminKey,
            ["Relay:Api:Keys:1:Name"] = "reader",
            ["Relay:Api:Keys:1:Secret"] = ReaderKey,
            ["Relay:Api:Keys:1:ReadOnly"] = "true",
            ["Relay:Api:Keys:2:Name"] = "boards",
            ["Relay:Api:Keys:2:Secret"] = BoardsKey,
            ["Relay:Api:Keys:2:Prefixes:0"] = "boards/",
            ["Relay:Auth:Token"] = SocketToken,
            ["Relay:Compaction:Mode"] = "immer",
            ["Relay:Compaction:SnapshotFloorBytes"] = "512",
            ["Relay:Retention:Policies:0:Prefix"] = "kept/",
            ["Relay:Retention:Policies:0:KeepLast"] = "5",
            ["Relay:Retention:IntervalSeconds"] = "1",
        });
    }

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>
/// The server API (docs/api.md) against a real node: publish reaches WebSocket clients, retries journal once,
/// If-Match lets exactly one of two racing backends win, the state equals a joiner's, history pages, and every
/// refusal is a one-line JSON error with its status.
/// </summary>
public sealed class ApiSpecs(ApiNodeFixture fixture) : IClassFixture<ApiNodeFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly RelayNode _node = fixture.Node;

    [Fact]
    public async Task Should_journal_a_published_patch_and_relay_it_to_websocket_clients_text_and_binary()
    {
        var document = Unique("publish");
        await using var watcher = await RelayV1Client.ConnectAsync(SocketUrl(document));
        using var api = Api(ApiNodeFixture.AdminKey);

        var text = await api.PublishAsync(document, """[{"op":"add","path":["a"],"value":1}]""");
        Assert.Equal(HttpStatusCode.OK, text.Status);
        Assert.Equal(1, text.Seq);
        Assert.Equal(watcher.Epoch, text.Body.GetProperty("epoch").GetString());

        var bytes = new byte[] { 0, 255, 10, 13 };
        var binary = await api.PublishAsync(document, new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } });
        Assert.Equal(2, binary.Seq);

        var frames = await watcher.ReceiveManyAsync(2, Patience);
        Assert.Equal([(1L, true), (2L, false)], frames.Select(f => (f.Seq, f.IsText)));
        Assert.Equal("""[{"op":"add","path":["a"],"value":1}]""", frames[0].Text);
        Assert.Equal(bytes, frames[1].Payload);

        var history = await api.GetAsync(RelayApiClient.PathOf(document, "/patches"));
        Assert.Equal(Convert.ToBase64String(bytes), history.Body.GetProperty("patches")[1].GetProperty("base64").GetString());
    }

    [Fact]
    public async Task Should_answer_a_retry_with_the_same_idempotency_key_as_the_first_and_journal_it_once()
    {
        var document = Unique("idempotent");
        using var api = Api(ApiNodeFixture.AdminKey);
        const string patch = """[{"op":"add","path":["paid"],"value":true}]""";

        var first = await api.PublishAsync(document, patch, h => h.Add("Idempotency-Key", "payment-42"));
        // The answer was lost, say: the backend retries, twice, and a second backend publishes in between.
        await api.PublishAsync(document, """[{"op":"add","path":["other"],"value":1}]""");
        var retry = await api.PublishAsync(document, patch, h => h.Add("Idempotency-Key", "payment-42"));
        var again = await api.PublishAsync(document, patch, h => h.Add("Idempotency-Key", "payment-42"));

        Assert.Equal((HttpStatusCode.OK, 1L), (first.Status, first.Seq));
        Assert.Equal(first.Body.ToString(), retry.Body.ToString());
        Assert.Equal(first.Body.ToString(), again.Body.ToString());
        Assert.Equal(2, await JournalRowsAsync(document));

        var reused = await api.PublishAsync(document, """[{"op":"add","path":["paid"],"value":false}]""", h => h.Add("Idempotency-Key", "payment-42"));
        Assert.Equal(HttpStatusCode.Conflict, reused.Status);
        Assert.Contains("another body", reused.Error);
        Assert.Equal(2, await JournalRowsAsync(document));
    }

    [Fact]
    public async Task Should_dedupe_a_client_and_id_pair_and_refuse_an_id_that_skips_one()
    {
        var document = Unique("client-id");
        using var api = Api(ApiNodeFixture.AdminKey);

        var first = await api.PublishAsync(document, "[]", query: "?client=billing&id=1");
        var retry = await api.PublishAsync(document, "[]", query: "?client=billing&id=1");
        var next = await api.PublishAsync(document, "[]", query: "?client=billing&id=2");
        var skipped = await api.PublishAsync(document, "[]", query: "?client=billing&id=4");

        Assert.Equal((1L, 1L, 2L), (first.Seq, retry.Seq, next.Seq));
        Assert.Equal(HttpStatusCode.Conflict, skipped.Status);
        Assert.Equal(2, skipped.Body.GetProperty("lastId").GetInt64());
        Assert.Equal(2, await JournalRowsAsync(document));
    }

    [Fact]
    public async Task Should_let_exactly_one_of_two_backends_racing_with_the_same_if_match_win()
    {
        var document = Unique("if-match");
        using var one = Api(ApiNodeFixture.AdminKey);
        using var two = Api(ApiNodeFixture.AdminKey);
        Assert.Equal(1, (await one.PublishAsync(document, """[{"op":"add","path":["n"],"value":0}]""")).Seq);

        for (var round = 1; round <= 8; round++)
        {
            var head = (await one.GetAsync(RelayApiClient.PathOf(document))).Body.GetProperty("head").GetInt64();
            var ifMatch = head.ToString(CultureInfo.InvariantCulture);
            var patch = $$"""[{"op":"replace","path":["n"],"value":{{round}}}]""";
            var answers = await Task.WhenAll(
                one.PublishAsync(document, patch, h => h.IfMatch.ParseAdd($"\"{ifMatch}\"")),
                two.PublishAsync(document, patch, h => h.TryAddWithoutValidation("If-Match", ifMatch)));

            Assert.Equal(1, answers.Count(a => a.Status == HttpStatusCode.OK));
            var winner = answers.Single(a => a.Status == HttpStatusCode.OK);
            var loser = answers.Single(a => a.Status != HttpStatusCode.OK);
            Assert.Equal(head + 1, winner.Seq);
            Assert.Equal(HttpStatusCode.PreconditionFailed, loser.Status);
            Assert.Equal(head + 1, loser.Body.GetProperty("head").GetInt64());
        }

        Assert.Equal(9, await JournalRowsAsync(document));
        var stale = await one.PublishAsync(document, "[]", h => h.TryAddWithoutValidation("If-Match", "3"));
        Assert.Equal((HttpStatusCode.PreconditionFailed, 9L), (stale.Status, stale.Body.GetProperty("head").GetInt64()));
    }

    [Fact]
    public async Task Should_read_the_state_a_joiner_builds_from_its_snapshot_and_the_patches_after_it()
    {
        var document = Unique("state");
        using var api = Api(ApiNodeFixture.AdminKey);
        // Enough bytes for snapshots (floor 512 bytes): a joiner starts from one, then the patches after it.
        for (var i = 1; i <= 60; i++)
        {
            var op = i % 3 == 0 ? "replace" : "add";
            var key = i % 3 == 0 ? $"k{i - 1}" : $"k{i}";
            Assert.Equal(HttpStatusCode.OK, (await api.PublishAsync(document, $$"""[{"op":"{{op}}","path":["{{key}}"],"value":"value {{i}} of the state"}]""")).Status);
        }

        var read = await api.GetAsync(RelayApiClient.PathOf(document));
        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Equal((document, 60L), (read.Body.GetProperty("document").GetString(), read.Body.GetProperty("head").GetInt64()));

        // The node's hub learns of a new snapshot within a second: join until a joiner starts from one.
        var built = new JsonObject();
        var replacedRoot = false;
        await Eventually.HoldsAsync(async () =>
        {
            await using var joiner = await RelayV1Client.ConnectAsync(SocketUrl(document));
            Assert.Equal(read.Body.GetProperty("epoch").GetString(), joiner.Epoch);
            (built, replacedRoot) = (new JsonObject(), false);
            for (var seq = 0L; seq < 60;)
            {
                var frame = await joiner.ReceiveAsync(Patience);
                seq = frame.Seq;
                foreach (var op in JsonNode.Parse(frame.Text)!.AsArray())
                {
                    var path = op!["path"]!.AsArray();
                    if (path.Count == 0)
                    {
                        built = op["value"]!.DeepClone().AsObject();
                        replacedRoot = true;
                    }
                    else
                    {
                        built[path[0]!.GetValue<string>()] = op["value"]!.DeepClone();
                    }
                }
            }

            return replacedRoot;
        }, Patience);

        Assert.True(replacedRoot, "the joiner should have started from a snapshot");
        Assert.True(JsonNode.DeepEquals(built, JsonNode.Parse(read.Body.GetProperty("state").GetRawText())), $"joiner built {built.ToJsonString()}, the API read {read.Body.GetProperty("state")}");
    }

    [Fact]
    public async Task Should_delete_a_whole_history_close_its_clients_with_1012_and_start_the_next_at_1_under_a_new_epoch()
    {
        var document = Unique("deleted");
        using var api = Api(ApiNodeFixture.AdminKey);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await api.PublishAsync(document, $$"""[{"op":"add","path":["k{{i}}"],"value":{{i}}}]""")).Status);
        }

        await using var raw = await RelayClient.ConnectAsync(SocketUrl(document));
        Assert.Equal(3, (await raw.ReceiveManyAsync(3, Patience)).Count);
        await using var v1 = await RelayV1Client.ConnectAsync(SocketUrl(document));
        var oldEpoch = v1.Epoch;
        Assert.Equal(3, v1.Head);
        Assert.Equal(HttpStatusCode.Forbidden, (await Api(ApiNodeFixture.ReaderKey).SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(document), null)).Status);

        var deleted = await api.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(document), null);

        Assert.Equal(HttpStatusCode.OK, deleted.Status);
        Assert.Equal((3L, oldEpoch), (deleted.Body.GetProperty("deletedThrough").GetInt64(), deleted.Body.GetProperty("epoch").GetString()));
        foreach (var closed in new[] { await raw.Closed.WaitAsync(Patience), await v1.Client.Closed.WaitAsync(Patience) })
        {
            Assert.Equal(1012, (int?)closed.Status);
            Assert.Contains("deleted", closed.Description);
        }

        Assert.Equal((0L, 0L), (await JournalRowsAsync(document), await SnapshotRowsAsync(document)));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync(RelayApiClient.PathOf(document))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await api.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(document), null)).Status);

        // The next history: numbered from 1 under a new epoch, for a joiner and a backend alike.
        await using var next = await RelayV1Client.ConnectAsync(SocketUrl(document));
        Assert.Equal(0, next.Head);
        Assert.NotEqual(oldEpoch, next.Epoch);
        var published = await api.PublishAsync(document, """[{"op":"add","path":["fresh"],"value":true}]""");
        Assert.Equal((1L, next.Epoch), (published.Seq, published.Body.GetProperty("epoch").GetString()));
        Assert.Equal(1, (await next.ReceiveAsync(Patience)).Seq);
        Assert.Equal(1, await JournalRowsAsync(document));
    }

    [Fact]
    public async Task Should_trim_the_journal_under_its_snapshot_and_send_a_resume_from_before_it_to_a_snapshot_join()
    {
        var document = Unique("trimmed");
        using var api = Api(ApiNodeFixture.AdminKey);
        for (var i = 1; i <= 60; i++)
        {
            await api.PublishAsync(document, $$"""[{"op":"add","path":["k{{i}}"],"value":"value {{i}} of the state"}]""");
        }

        var epoch = (await api.GetAsync(RelayApiClient.PathOf(document))).Body.GetProperty("epoch").GetString()!;
        var trimPath = RelayApiClient.PathOf(document, "/trim?before=");
        Assert.Equal(HttpStatusCode.Forbidden, (await Api(ApiNodeFixture.ReaderKey).SendAsync(HttpMethod.Post, trimPath + "2", null)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.SendAsync(HttpMethod.Post, trimPath + "x", null)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.SendAsync(HttpMethod.Post, trimPath + "62", null)).Status);

        // Snapshots are saved as the patches come: trim once the first one is.
        ApiAnswer first = null!;
        Assert.True(await Eventually.HoldsAsync(async () => (first = await api.SendAsync(HttpMethod.Post, trimPath + "2", null)).Status == HttpStatusCode.OK, Patience), "no snapshot to trim under");
        var snapshot = first.Body.GetProperty("snapshot").GetInt64();
        Assert.InRange(snapshot, 1, 60);

        var trimmed = await api.SendAsync(HttpMethod.Post, trimPath + (snapshot + 1), null);
        Assert.Equal(HttpStatusCode.OK, trimmed.Status);
        Assert.Equal(snapshot, trimmed.Body.GetProperty("trimmedThrough").GetInt64());
        Assert.Equal(0, await JournalRowsAsync(document, through: snapshot));
        Assert.Equal(60 - snapshot, await JournalRowsAsync(document, through: 60));
        if (snapshot < 60)
        {
            var beyond = await api.SendAsync(HttpMethod.Post, trimPath + (snapshot + 2), null);
            Assert.Equal(HttpStatusCode.Conflict, beyond.Status);
            Assert.Contains($"at {snapshot}", beyond.Error);
        }

        Assert.Equal(HttpStatusCode.Conflict, (await api.GetAsync(RelayApiClient.PathOf(document, "/patches?after=0"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(RelayApiClient.PathOf(document, $"/patches?after={snapshot}"))).Status);

        // A client holding less than the trim gets a full join from the snapshot; one holding it resumes.
        Assert.True(await Eventually.HoldsAsync(async () =>
        {
            await using var behind = await RelayV1Client.ConnectAsync(new Uri(SocketUrl(document) + $"&after=1&epoch={epoch}"));
            return !behind.Resumed && JsonNode.Parse((await behind.ReceiveAsync(Patience)).Text)![0]!["path"]!.AsArray().Count == 0;
        }, Patience), "a resume from before the trim should get a snapshot join");
        await using var current = await RelayV1Client.ConnectAsync(new Uri(SocketUrl(document) + $"&after={snapshot}&epoch={epoch}"));
        Assert.True(current.Resumed);

        var state = await api.GetAsync(RelayApiClient.PathOf(document));
        Assert.Equal((HttpStatusCode.OK, 60L), (state.Status, state.Body.GetProperty("head").GetInt64()));
        Assert.Equal("value 1 of the state", state.Body.GetProperty("state").GetProperty("k1").GetString());
        Assert.Equal(60, state.Body.GetProperty("state").EnumerateObject().Count());
    }

    [Fact]
    public async Task Should_apply_retention_in_the_background_below_the_snapshot_and_only_under_its_prefix()
    {
        var kept = "kept/" + Unique("doc");
        var other = Unique("other");
        using var api = Api(ApiNodeFixture.AdminKey);
        for (var i = 1; i <= 60; i++)
        {
            await api.PublishAsync(kept, $$"""[{"op":"add","path":["k{{i}}"],"value":"value {{i}} of the state"}]""");
            await api.PublishAsync(other, $$"""[{"op":"add","path":["k{{i}}"],"value":"value {{i}} of the state"}]""");
        }

        // The sweep (every second) trims the policy's document through its snapshot, keeping at least its last 5.
        Assert.True(await Eventually.HoldsAsync(async () => await JournalRowsAsync(kept, through: 1) == 0, Patience), "retention trimmed nothing");
        var live = await JournalRowsAsync(kept, through: 60);
        Assert.InRange(live, 5, 59);

        var state = await api.GetAsync(RelayApiClient.PathOf(kept));
        Assert.Equal((HttpStatusCode.OK, 60L), (state.Status, state.Body.GetProperty("head").GetInt64()));
        Assert.Equal(60, state.Body.GetProperty("state").EnumerateObject().Count());
        Assert.Equal(HttpStatusCode.Conflict, (await api.GetAsync(RelayApiClient.PathOf(kept, "/patches?after=0"))).Status);
        Assert.Equal(60, await JournalRowsAsync(other, through: 60));
    }

    [Fact]
    public async Task Should_page_the_history_by_after_and_limit()
    {
        var document = Unique("history");
        using var api = Api(ApiNodeFixture.ReaderKey);
        using var writer = Api(ApiNodeFixture.AdminKey);
        for (var i = 1; i <= 5; i++)
        {
            await writer.PublishAsync(document, $"[{i}]");
        }

        var first = await api.GetAsync(RelayApiClient.PathOf(document, "/patches?limit=2"));
        var rest = await api.GetAsync(RelayApiClient.PathOf(document, $"/patches?after={first.Body.GetProperty("next").GetInt64()}&limit=1000"));
        var none = await api.GetAsync(RelayApiClient.PathOf(document, "/patches?after=5"));

        Assert.Equal([(1L, "[1]"), (2L, "[2]")], Patches(first));
        Assert.Equal(5, first.Body.GetProperty("head").GetInt64());
        Assert.Equal([(3L, "[3]"), (4L, "[4]"), (5L, "[5]")], Patches(rest));
        Assert.Equal((0, 5L), (none.Body.GetProperty("patches").GetArrayLength(), none.Body.GetProperty("next").GetInt64()));
    }

    [Fact]
    public async Task Should_feed_every_patch_once_in_order_across_a_dropped_feed_resumed_by_last_event_id()
    {
        var document = Unique("feed");
        using var api = Api(ApiNodeFixture.AdminKey);
        using var reader = Api(ApiNodeFixture.ReaderKey);
        for (var i = 1; i <= 10; i++)
        {
            await api.PublishAsync(document, $"[{i}]");
        }

        // A backend keeps publishing while the feed is read, dropped and resumed.
        var publishing = Task.Run(async () =>
        {
            for (var i = 11; i <= 40; i++)
            {
                Assert.Equal(i, (await api.PublishAsync(document, $"[{i}]")).Seq);
            }
        });

        var seen = new List<(long Seq, string Text)>();
        string epoch;
        await using (var feed = await OpenFeedAsync(reader, document, ""))
        {
            var hello = (await feed.NextAsync(Patience))!;
            Assert.Equal("hello", hello.Type);
            Assert.False(hello.Json.GetProperty("resumed").GetBoolean());
            epoch = hello.Json.GetProperty("epoch").GetString()!;
            while (seen.Count < 15)
            {
                seen.Add(Event(await feed.NextAsync(Patience)));
            }
        }

        await using (var resumed = await OpenFeedAsync(reader, document, $"?epoch={epoch}", seen[^1].Seq))
        {
            var hello = (await resumed.NextAsync(Patience))!;
            Assert.True(hello.Json.GetProperty("resumed").GetBoolean());
            while (seen[^1].Seq < 40)
            {
                seen.Add(Event(await resumed.NextAsync(Patience)));
            }
        }

        await publishing;
        Assert.Equal(Enumerable.Range(1, 40).Select(i => ((long)i, $"[{i}]")), seen);
    }

    [Fact]
    public async Task Should_feed_every_patch_under_a_prefix_once_in_order_naming_its_document_across_a_resume()
    {
        // Three documents under one prefix, written in turns, and one beside it that the feed must not carry.
        var prefix = Unique("boards/prefix") + "/";
        string[] documents = [prefix + "a", prefix + "b", prefix + "c/deep"];
        var outside = Unique("elsewhere");
        using var api = Api(ApiNodeFixture.AdminKey);
        using var boards = Api(ApiNodeFixture.BoardsKey);
        for (var round = 1; round <= 4; round++)
        {
            foreach (var document in documents)
            {
                Assert.Equal(round, (await api.PublishAsync(document, $"[\"{document}\",{round}]")).Seq);
            }

            Assert.Equal(round, (await api.PublishAsync(outside, $"[{round}]")).Seq);
        }

        var seen = new List<(long Position, string Document, long Seq, string Text)>();
        await using (var feed = await OpenPrefixFeedAsync(boards, prefix))
        {
            var hello = (await feed.NextAsync(Patience))!;
            Assert.Equal("hello", hello.Type);
            Assert.Equal(prefix, hello.Json.GetProperty("prefix").GetString());
            while (seen.Count < 7)
            {
                seen.Add(PrefixEvent(await feed.NextAsync(Patience)));
            }
        }

        // Written while nobody follows, then live: the resumed feed has each once, after the last id it saw.
        Assert.Equal(5, (await api.PublishAsync(documents[1], $"[\"{documents[1]}\",5]")).Seq);
        Assert.Equal(5, (await api.PublishAsync(outside, "[5]")).Seq);
        await using (var resumed = await OpenPrefixFeedAsync(boards, prefix, seen[^1].Position))
        {
            Assert.Equal(seen[^1].Position, (await resumed.NextAsync(Patience))!.Json.GetProperty("after").GetInt64());
            while (seen.Count < 13)
            {
                seen.Add(PrefixEvent(await resumed.NextAsync(Patience)));
            }

            // Live: published after the feed caught up, and the next event it gets (nothing of the outside document before it).
            Assert.Equal(6, (await api.PublishAsync(outside, "[6]")).Seq);
            Assert.Equal(5, (await api.PublishAsync(documents[2], $"[\"{documents[2]}\",5]")).Seq);
            seen.Add(PrefixEvent(await resumed.NextAsync(Patience)));
        }

        Assert.Equal(seen.Select(e => e.Position).Order(), seen.Select(e => e.Position));
        Assert.Equal(seen.Count, seen.Select(e => e.Position).Distinct().Count());
        Assert.All(seen, e => Assert.Equal($"[\"{e.Document}\",{e.Seq}]", e.Text));
        var byDocument = seen.GroupBy(e => e.Document).ToDictionary(group => group.Key, group => group.Select(e => e.Seq).ToList());
        Assert.Equal(documents.Order(), byDocument.Keys.Order());
        Assert.Equal([1L, 2, 3, 4], byDocument[documents[0]]);
        Assert.Equal([1L, 2, 3, 4, 5], byDocument[documents[1]]);
        Assert.Equal([1L, 2, 3, 4, 5], byDocument[documents[2]]);
        Assert.Equal(14, seen.Count);
    }

    [Fact]
    public async Task Should_count_api_requests_by_operation_and_status_and_open_feeds_naming_no_key_or_document()
    {
        var document = Unique("metered");
        using var api = Api(ApiNodeFixture.AdminKey);
        using var nobody = Api(null);
        var before = await Scrape.TakeAsync(_node);
        Assert.Equal(HttpStatusCode.OK, (await api.PublishAsync(document, "[1]")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await nobody.PublishAsync(document, "[2]")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync(RelayApiClient.PathOf(Unique("never"), "/patches"))).Status);
        await using (var feed = await OpenPrefixFeedAsync(api, "boards/" + document, key: ApiNodeFixture.AdminKey))
        {
            Assert.Equal("hello", (await feed.NextAsync(Patience))!.Type);
            // A scrape may be a cached answer (the exporter's cache of 300 ms): look again until it shows.
            Scrape? open = null;
            Assert.True(
                await Eventually.HoldsAsync(async () => (open = await Scrape.TakeAsync(_node)).Value("relay_api_feeds", "kind=\"prefix\"") >= 1, Patience),
                open?.Text);
        }

        Scrape? after = null;
        Assert.True(
            await Eventually.HoldsAsync(async () =>
            {
                after = await Scrape.TakeAsync(_node);
                return Delta("publish", "200") >= 1 && Delta("publish", "401") >= 1 && Delta("read_history", "404") >= 1 && Delta("prefix_feed", "200") >= 1;
            }, Patience),
            after?.Text);
        Assert.True(after!.Value("relay_api_publish_duration_seconds_count") >= before.Value("relay_api_publish_duration_seconds_count") + 2);
        foreach (var secret in new[] { ApiNodeFixture.AdminKey, ApiNodeFixture.ReaderKey, ApiNodeFixture.BoardsKey, "admin", document })
        {
            Assert.DoesNotContain(secret, after.Text);
        }

        double Delta(string operation, string status)
        {
            var label = $"operation=\"{operation}\",status=\"{status}\"";
            return after!.Value("relay_api_requests_total", label) - before.Value("relay_api_requests_total", label);
        }
    }

    [Fact]
    public async Task Should_list_the_documents_under_a_prefix_in_name_order_with_head_and_last_write_in_pages()
    {
        var started = DateTime.UtcNow;
        var prefix = Unique("boards/list") + "/";
        using var api = Api(ApiNodeFixture.AdminKey);
        using var boards = Api(ApiNodeFixture.BoardsKey);
        foreach (var (name, patches) in new[] { ("z", 1), ("b/c", 2), ("a", 3), ("b", 1) })
        {
            for (var i = 1; i <= patches; i++)
            {
                Assert.Equal(i, (await api.PublishAsync(prefix + name, $"[{i}]")).Seq);
            }
        }

        Assert.Equal(1, (await api.PublishAsync(Unique("boards/lis"), "[1]")).Seq);
        var listed = new List<(string Document, long Head)>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await boards.GetAsync($"/api/v1/documents?prefix={Uri.EscapeDataString(prefix)}&limit=2" + (cursor is null ? "" : "&cursor=" + cursor));
            Assert.True(page.Status == HttpStatusCode.OK, page.Body.ToString());
            foreach (var known in page.Body.GetProperty("documents").EnumerateArray())
            {
                listed.Add((known.GetProperty("document").GetString()!, known.GetProperty("head").GetInt64()));
                var lastWrite = known.GetProperty("lastWrite").GetDateTime().ToUniversalTime();
                Assert.InRange(lastWrite, started.AddMinutes(-1), DateTime.UtcNow.AddMinutes(1));
            }

            cursor = page.Body.GetProperty("next").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.Equal([(prefix + "a", 3L), (prefix + "b", 1L), (prefix + "b/c", 2L), (prefix + "z", 1L)], listed);
        Assert.Equal(3, pages);

        // A prefix that is a whole name lists that document too; a key lists only under its prefixes.
        var exact = await boards.GetAsync($"/api/v1/documents?prefix={Uri.EscapeDataString(prefix + "b")}");
        Assert.Equal([prefix + "b", prefix + "b/c"], exact.Body.GetProperty("documents").EnumerateArray().Select(known => known.GetProperty("document").GetString()));
        foreach (var (query, status) in new[]
        {
            ("?prefix=elsewhere/", HttpStatusCode.Forbidden),
            ("?prefix=boards/&limit=0", HttpStatusCode.BadRequest),
            ("?prefix=boards/&limit=1001", HttpStatusCode.BadRequest),
            ("?prefix=boards/&cursor=%21%21", HttpStatusCode.BadRequest),
        })
        {
            var answer = await boards.GetAsync("/api/v1/documents" + query);
            Assert.True(status == answer.Status, $"{query}: {answer.Status} {answer.Body}");
        }
    }

    [Fact]
    public async Task Should_refuse_a_prefix_feed_beyond_the_keys_prefixes_or_with_bad_input()
    {
        using var boards = Api(ApiNodeFixture.BoardsKey);
        foreach (var (query, status) in new[]
        {
            ("?prefix=elsewhere/", HttpStatusCode.Forbidden),
            ("", HttpStatusCode.Forbidden),
            ("?prefix=boards", HttpStatusCode.Forbidden),
            ("?prefix=boards//x", HttpStatusCode.BadRequest),
            ("?prefix=boards/a%20b", HttpStatusCode.BadRequest),
            ("?prefix=boards/&after=-1", HttpStatusCode.BadRequest),
            ("?prefix=boards/&after=x", HttpStatusCode.BadRequest),
        })
        {
            var answer = await boards.GetAsync("/api/v1/changes" + query);
            Assert.True(status == answer.Status, $"{query}: {answer.Status} {answer.Body}");
            Assert.False(string.IsNullOrEmpty(answer.Error));
        }

        using var nobody = Api(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await nobody.GetAsync("/api/v1/changes?prefix=boards/")).Status);
        using var admin = Api(ApiNodeFixture.AdminKey);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await admin.SendAsync(HttpMethod.Post, "/api/v1/changes", new StringContent("[]"))).Status);
    }

    [Fact]
    public async Task Should_start_the_feed_over_with_a_hello_not_resumed_when_the_epoch_is_not_the_documents()
    {
        var document = Unique("feed-epoch");
        using var api = Api(ApiNodeFixture.AdminKey);
        for (var i = 1; i <= 3; i++)
        {
            await api.PublishAsync(document, $"[{i}]");
        }

        await using var feed = await OpenFeedAsync(api, document, "?after=2&epoch=0000000000000001");
        var hello = (await feed.NextAsync(Patience))!;
        Assert.Equal(("hello", false, 3L), (hello.Type, hello.Json.GetProperty("resumed").GetBoolean(), hello.Json.GetProperty("head").GetInt64()));
        Assert.Equal((1L, "[1]"), Event(await feed.NextAsync(Patience)));

        // Last-Event-ID carries no epoch: without one in the URL, a reconnect starts over too.
        await using var noEpoch = await OpenFeedAsync(api, document, "", lastEventId: 2);
        Assert.False((await noEpoch.NextAsync(Patience))!.Json.GetProperty("resumed").GetBoolean());
        Assert.Equal((1L, "[1]"), Event(await noEpoch.NextAsync(Patience)));

        using var bad = await api.Http.SendAsync(FeedRequest(document, "?after=2&epoch=xyz"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Should_refuse_missing_wrong_and_limited_keys_with_401_and_403()
    {
        using var anonymous = Api(null);
        using var wrong = Api("not-a-key-0123456789abcdef");
        using var jwtLike = Api(ApiNodeFixture.SocketToken);
        using var reader = Api(ApiNodeFixture.ReaderKey);
        using var boards = Api(ApiNodeFixture.BoardsKey);
        var document = Unique("boards/access");

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(RelayApiClient.PathOf(document))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.PublishAsync(document, "[]")).Status);
        // The WebSocket token opens no API call, nor an API key a WebSocket.
        Assert.Equal(HttpStatusCode.Unauthorized, (await jwtLike.PublishAsync(document, "[]")).Status);
        var refusedSocket = await Assert.ThrowsAnyAsync<Exception>(() => RelayClient.ConnectAsync(_node.WebSocketUrlOf(document), o => o.SetRequestHeader("Authorization", "Bearer " + ApiNodeFixture.AdminKey)));
        Assert.Contains("401", refusedSocket.Message);

        var readOnly = await reader.PublishAsync(document, "[]");
        Assert.Equal((HttpStatusCode.Forbidden, "this API key is read-only"), (readOnly.Status, readOnly.Error));
        Assert.Equal(HttpStatusCode.OK, (await boards.PublishAsync(document, "[]")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await boards.PublishAsync(Unique("cards/x"), "[]")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await boards.GetAsync(RelayApiClient.PathOf(Unique("boardsx")))).Status);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(RelayApiClient.PathOf(document, "/patches"))).Status);
    }

    [Fact]
    public async Task Should_answer_bad_input_with_a_clear_4xx_and_one_line_of_json()
    {
        using var api = Api(ApiNodeFixture.AdminKey);
        var document = Unique("bad-input");
        await api.PublishAsync(document, "[]");

        async Task Expect(HttpStatusCode status, Task<ApiAnswer> answer, string error)
        {
            var got = await answer;
            Assert.Equal(status, got.Status);
            Assert.Contains(error, got.Error);
        }

        await Expect(HttpStatusCode.BadRequest, api.GetAsync("/api/v1/documents/a//b"), "bad document name");
        await Expect(HttpStatusCode.BadRequest, api.GetAsync("/api/v1/documents/a%20b"), "bad document name");
        await Expect(HttpStatusCode.NotFound, api.GetAsync("/api/v1/nothing"), "no such API path");
        await Expect(HttpStatusCode.NotFound, api.GetAsync(RelayApiClient.PathOf(Unique("unknown"))), "has no history");
        await Expect(HttpStatusCode.NotFound, api.GetAsync(RelayApiClient.PathOf(Unique("unknown"), "/patches")), "has no history");
        await Expect(HttpStatusCode.BadRequest, api.GetAsync(RelayApiClient.PathOf(document, "/patches?after=-1")), "after must be");
        await Expect(HttpStatusCode.BadRequest, api.GetAsync(RelayApiClient.PathOf(document, "/patches?after=x")), "after must be");
        await Expect(HttpStatusCode.BadRequest, api.GetAsync(RelayApiClient.PathOf(document, "/patches?limit=0")), "limit must be");
        await Expect(HttpStatusCode.BadRequest, api.GetAsync(RelayApiClient.PathOf(document, "/patches?limit=1001")), "limit must be");
        await Expect(HttpStatusCode.MethodNotAllowed, api.SendAsync(HttpMethod.Put, RelayApiClient.PathOf(document), null), "not served");
        await Expect(HttpStatusCode.MethodNotAllowed, api.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(document, "/patches"), null), "not served");
        await Expect(HttpStatusCode.MethodNotAllowed, api.GetAsync(RelayApiClient.PathOf(document, "/trim?before=1")), "not served");
        await Expect(HttpStatusCode.NotFound, api.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf(Unique("unknown")), null), "has no history");
        await Expect(HttpStatusCode.UnsupportedMediaType, api.PublishAsync(document, new StringContent("a=b", Encoding.UTF8, "application/x-www-form-urlencoded")), "Content-Type");
        await Expect(HttpStatusCode.BadRequest, api.PublishAsync(document, new ByteArrayContent([0xC3, 0x28]) { Headers = { ContentType = new MediaTypeHeaderValue("text/plain") } }), "UTF-8");
        await Expect(HttpStatusCode.RequestEntityTooLarge, api.PublishAsync(document, new string('x', 1024 * 1024 + 1)), "Relay:MaxMessageBytes");
        // Chunked, with no Content-Length to refuse it by: counted as it is read.
        var chunked = new StreamContent(new MemoryStream(new byte[1024 * 1024 + 1])) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } };
        await Expect(HttpStatusCode.RequestEntityTooLarge, api.PublishAsync(document, chunked, h => h.TransferEncodingChunked = true), "Relay:MaxMessageBytes");
        await Expect(HttpStatusCode.BadRequest, api.PublishAsync(document, "[]", h => h.TryAddWithoutValidation("If-Match", "*")), "If-Match");
        await Expect(HttpStatusCode.BadRequest, api.PublishAsync(document, "[]", query: "?client=a%20b&id=1"), "client must be");
        await Expect(HttpStatusCode.BadRequest, api.PublishAsync(document, "[]", query: "?client=a&id=0"), "id must be");
        await Expect(HttpStatusCode.BadRequest, api.PublishAsync(document, "[]", h => h.Add("Idempotency-Key", "k"), "?client=a&id=1"), "not both");
        Assert.Equal(1, await JournalRowsAsync(document));
    }

    private static IEnumerable<(long, string)> Patches(ApiAnswer page) =>
        page.Body.GetProperty("patches").EnumerateArray().Select(p => (p.GetProperty("seq").GetInt64(), p.GetProperty("text").GetString()!)).ToList();

    private RelayApiClient Api(string? key) => new(_node.HttpUrl, key);

    private static (long Seq, string Text) Event(ServerSentEvent? patch)
    {
        Assert.NotNull(patch);
        Assert.Equal("patch", patch.Type);
        var seq = patch.Json.GetProperty("seq").GetInt64();
        Assert.Equal(seq.ToString(CultureInfo.InvariantCulture), patch.Id);
        return (seq, patch.Json.GetProperty("text").GetString()!);
    }

    private static HttpRequestMessage FeedRequest(string document, string query, long? lastEventId = null, string key = ApiNodeFixture.ReaderKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, RelayApiClient.PathOf(document, "/changes") + query);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(CultureInfo.InvariantCulture));
        }

        return request;
    }

    private static (long Position, string Document, long Seq, string Text) PrefixEvent(ServerSentEvent? patch)
    {
        Assert.NotNull(patch);
        Assert.Equal("patch", patch.Type);
        var json = patch.Json;
        return (long.Parse(patch.Id!, CultureInfo.InvariantCulture), json.GetProperty("document").GetString()!, json.GetProperty("seq").GetInt64(), json.GetProperty("text").GetString()!);
    }

    private static async Task<ServerSentEvents> OpenPrefixFeedAsync(RelayApiClient api, string prefix, long? lastEventId = null, string key = ApiNodeFixture.BoardsKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/changes?prefix=" + Uri.EscapeDataString(prefix));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (lastEventId is { } id)
        {
            request.Headers.Add("Last-Event-ID", id.ToString(CultureInfo.InvariantCulture));
        }

        var feed = await ServerSentEvents.OpenAsync(api.Http, request);
        Assert.Equal(HttpStatusCode.OK, feed.Status);
        return feed;
    }

    private static async Task<ServerSentEvents> OpenFeedAsync(RelayApiClient api, string document, string query, long? lastEventId = null)
    {
        var feed = await ServerSentEvents.OpenAsync(api.Http, FeedRequest(document, query, lastEventId));
        Assert.Equal(HttpStatusCode.OK, feed.Status);
        return feed;
    }

    private Uri SocketUrl(string document) => new($"{_node.WebSocketUrlOf(document)}?access_token={ApiNodeFixture.SocketToken}");

    // Every journal row of the document, or with through: its events not deleted up to that sequence number.
    private Task<long> JournalRowsAsync(string document, long? through = null) => through is { } last
        ? CountAsync("SELECT count(*) FROM journal WHERE persistence_id = $id AND deleted = 0 AND sequence_number <= " + last, document)
        : CountAsync("SELECT count(*) FROM journal WHERE persistence_id = $id", document);

    private Task<long> SnapshotRowsAsync(string document) => CountAsync("SELECT count(*) FROM snapshot WHERE persistence_id = $id", document);

    private async Task<long> CountAsync(string sql, string document)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = fixture.Database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$id", "relay-history/" + document);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static string Unique(string name) => $"{name}-{Guid.NewGuid():N}"[..Math.Min(name.Length + 13, 64)];
}
