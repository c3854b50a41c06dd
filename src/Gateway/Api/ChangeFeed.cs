using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Gateway.Sockets;

namespace Relay.Gateway.Api;

/// <summary>
/// A document's change feed as Server-Sent Events (docs/api.md): one <c>relay.v1</c> connection that sends nothing,
/// so the feed has exactly a <c>relay.v1</c> client's guarantees: a <c>hello</c> event with the epoch, the head and
/// whether it resumed, then every sequence number once, in order, history then live, <c>id:</c> = seq, and resume
/// after <c>Last-Event-ID</c> (or <c>after</c>) within <c>epoch</c>. Bounded like a socket: a reader that falls
/// <c>Relay:MaxOutboundBytesPerConnection</c> behind gets a <c>close</c> event ("slow consumer") and resumes.
/// </summary>
internal static class ChangeFeed
{
    // A comment line this often keeps proxies and load balancers from closing an idle feed.
    internal static readonly TimeSpan KeepAliveEvery = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Where the feed starts: <c>Last-Event-ID</c> (a reconnecting EventSource) or <c>after</c>, within the
    /// <c>epoch</c> query parameter. False with a one-line reason.
    /// </summary>
    public static bool TryParse(HttpContext context, out ClientProtocol protocol, out string error)
    {
        protocol = new ClientProtocol(Enveloped: true);
        var query = context.Request.Query;
        var lastEventId = context.Request.Headers["Last-Event-ID"];
        string? after = lastEventId.Count > 0 ? lastEventId[0] : query.TryGetValue("after", out var a) && a.Count == 1 ? a[0] : null;
        if ((lastEventId.Count > 1) || (lastEventId.Count == 0 && query.TryGetValue("after", out var many) && many.Count != 1))
        {
            error = "after (or Last-Event-ID) must be one sequence number";
            return false;
        }

        long? epoch = null;
        if (query.TryGetValue("epoch", out var epochValues))
        {
            if (epochValues.Count != 1 || !RelayV1.TryParseEpoch(epochValues[0], out var parsed))
            {
                error = RelayV1.EpochError;
                return false;
            }

            epoch = parsed;
        }

        long? resumeAfter = null;
        if (after is not null)
        {
            if (!long.TryParse(after, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                error = "after (or Last-Event-ID) must be a sequence number (0 or more)";
                return false;
            }

            resumeAfter = seq;
        }

        // As relay.v1's resume: after without the epoch it belongs to (or with another) replays from the start.
        protocol = new ClientProtocol(Enveloped: true, ResumeAfter: resumeAfter, ResumeEpoch: epoch);
        error = string.Empty;
        return true;
    }

    /// <summary>
    /// Streams <paramref name="connection"/>'s frames as events until it ends, the reader leaves, or the node begins to
    /// stop (<paramref name="stopping"/>: the feed then ends with a <c>close</c> event, so it never holds up shutdown).
    /// </summary>
    public static async Task StreamAsync(HttpContext context, DocumentName document, ClientConnection connection, CancellationToken stopping)
    {
        StartEvents(context.Response);
        await using var leaving = context.RequestAborted.Register(() => connection.Disconnect());
        await using var stop = stopping.Register(() => connection.Disconnect(CloseReason.Stopping));
        try
        {
            var writer = context.Response.BodyWriter;
            await writer.WriteAsync("retry: 1000\n\n"u8.ToArray(), context.RequestAborted);
            while (true)
            {
                var ready = connection.WaitToReadAsync();
                if (!ready.IsCompleted)
                {
                    // Only an idle feed needs a keep-alive timer; a busy one finds frames waiting and starts none.
                    var waiting = ready.AsTask();
                    while (await Task.WhenAny(waiting, Task.Delay(KeepAliveEvery, context.RequestAborted)) != waiting)
                    {
                        await writer.WriteAsync(": keep-alive\n\n"u8.ToArray(), context.RequestAborted);
                    }

                    ready = new ValueTask<bool>(waiting);
                }

                if (!await ready)
                {
                    break;
                }

                while (connection.TryRead(out var frame))
                {
                    Write(writer, document, frame);
                    connection.OnSent(frame);
                }

                await writer.FlushAsync(context.RequestAborted);
            }

            var reason = await connection.Closed;
            if (reason != CloseReason.ClientLeft)
            {
                WriteEvent(writer, "close", null, json => json.WriteString("reason", CloseCodes.For(reason).Reason));
                await writer.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        finally
        {
            connection.Disconnect();
        }
    }

    /// <summary>The headers of an event stream, which no proxy may buffer.</summary>
    internal static void StartEvents(HttpResponse response)
    {
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // nginx buffers proxied responses unless told not to; a feed must not wait in a buffer.
        response.Headers["X-Accel-Buffering"] = "no";
    }

    private static void Write(IBufferWriter<byte> writer, DocumentName document, OutboundFrame frame)
    {
        switch (frame)
        {
            case HelloFrame hello:
                WriteEvent(writer, "hello", null, json =>
                {
                    json.WriteString("document", document.Value);
                    json.WriteString("epoch", RelayV1.FormatEpoch(hello.Epoch));
                    json.WriteNumber("head", hello.Head);
                    json.WriteBoolean("resumed", hello.Resumed);
                });
                break;
            case PatchFrame patch:
                WriteEvent(writer, "patch", patch.Sequence, json =>
                {
                    json.WriteString("document", document.Value);
                    ApiJson.WritePatch(json, patch.Sequence, patch.Payload.Span, patch.IsText);
                });
                break;
        }
    }

    // One event: its type, its id when it has one, and its data as one line of JSON.
    internal static void WriteEvent(IBufferWriter<byte> writer, string type, long? id, Action<Utf8JsonWriter> members)
    {
        Append(writer, "event: " + type + "\n");
        if (id is { } seq)
        {
            Append(writer, "id: " + seq.ToString(CultureInfo.InvariantCulture) + "\n");
        }

        Append(writer, "data: ");
        using (var json = new Utf8JsonWriter(writer))
        {
            json.WriteStartObject();
            members(json);
            json.WriteEndObject();
        }

        Append(writer, "\n\n");
    }

    private static void Append(IBufferWriter<byte> writer, string text) => writer.Write(System.Text.Encoding.UTF8.GetBytes(text));
}
