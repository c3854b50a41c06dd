using System.Net;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>
/// The server API on a node with the sharded placement and no compaction: publish goes through the shard region to
/// the document's sequencer like a client's patch; the state read says why there is none and where the history is.
/// With no key set, the API is off and <c>/api/…</c> stays a document path as before.
/// </summary>
public sealed class ApiPlacementSpecs
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const string Key = "sharded-key-0123456789abcdef";

    [Fact]
    public async Task Should_publish_through_the_shard_region_and_refuse_a_state_read_without_compaction()
    {
        await using var node = new RelayNode("api-sharded", new Dictionary<string, string>
        {
            ["Relay:Api:Keys:0:Secret"] = Key,
            ["Relay:Documents:Placement"] = "sharded",
        });
        await node.StartAsync();
        using var api = new RelayApiClient(node.HttpUrl, Key);
        await using var watcher = await RelayV1Client.ConnectAsync(node.WebSocketUrlOf("boards/sharded"));

        var published = await api.PublishAsync("boards/sharded", """{"op":"hello"}""", h => h.Add("Idempotency-Key", "k1"));
        var retried = await api.PublishAsync("boards/sharded", """{"op":"hello"}""", h => h.Add("Idempotency-Key", "k1"));
        Assert.Equal((HttpStatusCode.OK, 1L, 1L), (published.Status, published.Seq, retried.Seq));
        Assert.Equal(watcher.Epoch, published.Body.GetProperty("epoch").GetString());
        var frame = await watcher.ReceiveAsync(Patience);
        Assert.Equal((1L, """{"op":"hello"}"""), (frame.Seq, frame.Text));

        var state = await api.GetAsync(RelayApiClient.PathOf("boards/sharded"));
        Assert.Equal(HttpStatusCode.Conflict, state.Status);
        Assert.Contains("compaction is off", state.Error);
        Assert.Equal("/api/v1/documents/boards/sharded/patches", state.Body.GetProperty("history").GetString());

        // History management through the shard region: no trim without compaction; a delete closes the watcher
        // and the entity that starts next numbers from 1 under a new epoch.
        var trim = await api.SendAsync(HttpMethod.Post, RelayApiClient.PathOf("boards/sharded", "/trim?before=2"), null);
        Assert.Equal(HttpStatusCode.Conflict, trim.Status);
        Assert.Contains("compaction is off", trim.Error);
        var deleted = await api.SendAsync(HttpMethod.Delete, RelayApiClient.PathOf("boards/sharded"), null);
        Assert.Equal((HttpStatusCode.OK, 1L), (deleted.Status, deleted.Body.GetProperty("deletedThrough").GetInt64()));
        Assert.Equal(1012, (int?)(await watcher.Client.Closed.WaitAsync(Patience)).Status);
        await using var next = await RelayV1Client.ConnectAsync(node.WebSocketUrlOf("boards/sharded"));
        Assert.Equal(0, next.Head);
        Assert.NotEqual(watcher.Epoch, next.Epoch);
        Assert.Equal(1, (await api.PublishAsync("boards/sharded", """{"op":"again"}""")).Seq);

        // An open feed never holds up shutdown: SIGTERM ends it with a close event, and the node exits in time.
        using var request = new HttpRequestMessage(HttpMethod.Get, RelayApiClient.PathOf("boards/sharded", "/changes"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
        await using var feed = await ServerSentEvents.OpenAsync(api.Http, request);
        Assert.Equal("hello", (await feed.NextAsync(Patience))!.Type);
        Assert.Equal("patch", (await feed.NextAsync(Patience))!.Type);
        var stopped = node.TerminateAsync();
        var close = (await feed.NextAsync(Patience))!;
        Assert.Equal(("close", "server shutting down"), (close.Type, close.Json.GetProperty("reason").GetString()));
        var (exitCode, took) = await stopped;
        Assert.Equal(0, exitCode);
        Assert.True(took < TimeSpan.FromSeconds(10), $"the node took {took} to stop");
    }

    [Fact]
    public async Task Should_leave_api_paths_to_documents_when_no_key_is_set()
    {
        await using var node = new RelayNode("api-off");
        await node.StartAsync();

        var status = await node.StatusAsync("api/v1/documents/x");
        Assert.Equal("api/v1/documents/x", status.GetProperty("document").GetString());
    }
}
