using System.Globalization;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Gateway.Sockets;

namespace Relay.Gateway.Api;

/// <summary>
/// The change feed of every document under a prefix (<c>/api/v1/changes?prefix=</c>, docs/api.md) as Server-Sent
/// Events: a <c>hello</c> event, then each journaled patch once, in the journal's one ordering of all writes (so every
/// document's patches in its own order), history then live, each naming its document, <c>id:</c> = its position,
/// which <c>Last-Event-ID</c> (or <c>after</c>) resumes after. Read from the journal, held back by the reader: a
/// slow reader holds nothing in memory but the patch it is being sent.
/// </summary>
internal static class PrefixFeed
{
    /// <summary>Where the feed starts: after <c>Last-Event-ID</c> or <c>after</c> (a position; default 0, the start).</summary>
    public static bool TryParseAfter(HttpContext context, out long after, out string error)
    {
        after = 0;
        error = string.Empty;
        var lastEventId = context.Request.Headers["Last-Event-ID"];
        var values = lastEventId.Count > 0 ? lastEventId : context.Request.Query["after"];
        if (values.Count == 0)
        {
            return true;
        }

        if (values.Count == 1 && long.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return true;
        }

        error = "after (or Last-Event-ID) must be one position (0 or more), an id: of this feed";
        return false;
    }

    /// <summary>Streams the feed until the reader leaves, or the node begins to stop (then a <c>close</c> event ends it).</summary>
    public static async Task StreamAsync(HttpContext context, RelayDocuments documents, string prefix, long after, CancellationToken stopping)
    {
        ChangeFeed.StartEvents(context.Response);
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var writer = context.Response.BodyWriter;
        await writer.WriteAsync("retry: 1000\n\n"u8.ToArray(), context.RequestAborted);
        ChangeFeed.WriteEvent(writer, "hello", null, json =>
        {
            json.WriteString("prefix", prefix);
            json.WriteNumber("after", after);
        });
        await writer.FlushAsync(context.RequestAborted);
        var changes = documents.FollowAsync(prefix, after, ending.Token).GetAsyncEnumerator(ending.Token);
        try
        {
            while (true)
            {
                var next = changes.MoveNextAsync();
                if (!next.IsCompleted)
                {
                    // Nothing waits: what was written goes out now, and an idle feed sends keep-alive comments.
                    await writer.FlushAsync(context.RequestAborted);
                    var waiting = next.AsTask();
                    while (await Task.WhenAny(waiting, Task.Delay(ChangeFeed.KeepAliveEvery, ending.Token)) != waiting)
                    {
                        await writer.WriteAsync(": keep-alive\n\n"u8.ToArray(), context.RequestAborted);
                    }

                    next = new ValueTask<bool>(waiting);
                }

                if (!await next)
                {
                    break;
                }

                var change = changes.Current;
                ChangeFeed.WriteEvent(writer, "patch", change.Position, json =>
                {
                    json.WriteString("document", change.Document.Value);
                    ApiJson.WritePatch(json, change.Sequence, change.Payload.Span, change.IsText);
                });
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            ChangeFeed.WriteEvent(writer, "close", null, json => json.WriteString("reason", CloseCodes.For(CloseReason.Stopping).Reason));
            await writer.FlushAsync(context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The journal failed under the query (the database went away): the reader resumes after its last id.
            ChangeFeed.WriteEvent(writer, "close", null, json => json.WriteString("reason", "the journal did not answer; resume after the last id"));
            await writer.FlushAsync(context.RequestAborted);
        }
        finally
        {
            await changes.DisposeAsync();
        }
    }
}
