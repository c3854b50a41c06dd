using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Gateway.Sockets;

namespace Relay.Gateway.Api;

/// <summary>
/// The server API under <c>/api/v1/</c> (docs/api.md): backends publish to a document and read its state and history.
/// Served only when <c>Relay:Api:Keys</c> holds a key; it reaches the documents through <see cref="RelayDocuments"/>
/// alone, so any node answers for any document.
/// </summary>
public static class ApiEndpoints
{
    /// <summary>Where the API's paths start.</summary>
    public const string BasePath = "/api/v1";

    private const string DocumentsPath = BasePath + "/documents/";
    private const string ChangesPath = BasePath + "/changes";
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;
    private const int MaxIdempotencyKeyLength = 255;

    /// <summary>The most payload bytes one page of history carries (more only when its one patch is larger).</summary>
    public const long PageBytes = 1024 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };

    /// <summary>Binds <see cref="ApiOptions"/> from <c>Relay:Api</c>; the keys are checked at start.</summary>
    public static WebApplicationBuilder AddRelayApi(this WebApplicationBuilder builder)
    {
        var options = new ApiOptions();
        builder.Configuration.GetSection($"{RelayOptions.Section}:{ApiOptions.Section}").Bind(options);
        options.Validate(builder.Configuration[$"{RelayOptions.Section}:Auth:Token"]);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new ApiKeys(options));
        return builder;
    }

    /// <summary>
    /// Maps every path under <c>/api/</c> to the API when it is on (no document below <c>api/</c> can then be opened as
    /// a WebSocket); when it is off, nothing is mapped and those paths stay documents, as before the API.
    /// </summary>
    public static IEndpointRouteBuilder MapRelayApi(this IEndpointRouteBuilder app)
    {
        var services = app.ServiceProvider;
        if (!services.GetRequiredService<ApiOptions>().IsEnabled)
        {
            return app;
        }

        var handler = new Handler(
            services.GetRequiredService<ApiKeys>(),
            services.GetRequiredService<RelayDocuments>(),
            services.GetRequiredService<RelayOptions>(),
            services.GetRequiredService<IHostApplicationLifetime>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ApiEndpoints).FullName!));
        app.Map("/api/{**rest}", handler.HandleAsync);
        return app;
    }

    /// <summary>Writes the API's one-line error: <c>{"error":"…"}</c> and the members <paramref name="extra"/> adds.</summary>
    internal static Task WriteErrorAsync(HttpContext context, int status, string error, Action<Utf8JsonWriter>? extra = null)
    {
        context.Response.StatusCode = status;
        return WriteJsonAsync(context, json =>
        {
            json.WriteString("error", error);
            extra?.Invoke(json);
        });
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> members)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            json.WriteStartObject();
            members(json);
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.WriteAsync("\n"u8.ToArray());
    }

    private sealed class Handler(ApiKeys keys, RelayDocuments documents, RelayOptions options, IHostApplicationLifetime lifetime, ILogger logger)
    {
        public async Task HandleAsync(HttpContext context)
        {
            var operation = OperationOf(context);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                await ServeAsync(context);
            }
            finally
            {
                ApiMetrics.RecordRequest(operation, context.Response.StatusCode);
                if (operation == ApiOperation.Publish)
                {
                    ApiMetrics.RecordPublish(started);
                }
            }
        }

        // What the request asks for, for the metrics, whether or not it is then served.
        private static ApiOperation OperationOf(HttpContext context)
        {
            if (!TryRoute(context, out _, out var resource, out _))
            {
                return ApiOperation.Other;
            }

            var post = HttpMethods.IsPost(context.Request.Method);
            return resource switch
            {
                Resource.Patches => post ? ApiOperation.Publish : ApiOperation.ReadHistory,
                Resource.Document => HttpMethods.IsDelete(context.Request.Method) ? ApiOperation.Delete : ApiOperation.ReadState,
                Resource.Trim => ApiOperation.Trim,
                Resource.Changes => ApiOperation.DocumentFeed,
                Resource.List => ApiOperation.List,
                _ => ApiOperation.PrefixFeed,
            };
        }

        private async Task ServeAsync(HttpContext context)
        {
            // Before anything else: the API answers nobody without a key, not even with a 404.
            if (keys.Find(context.Request.Headers.Authorization) is not { } key)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "an API key is required: Authorization: Bearer <key>");
                return;
            }

            if (context.WebSockets.IsWebSocketRequest)
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "the API answers plain HTTP; WebSockets connect to a document's path");
                return;
            }

            if (!TryRoute(context, out var document, out var resource, out var error))
            {
                await WriteErrorAsync(context, error.Length == 0 ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest,
                    error.Length == 0 ? $"no such API path: {context.Request.Path}" : error);
                return;
            }

            var method = context.Request.Method;
            var write = HttpMethods.IsPost(method) || HttpMethods.IsDelete(method);
            var allowed = (resource, write) switch
            {
                (Resource.Patches or Resource.Trim, true) => HttpMethods.IsPost(method),
                (Resource.Document, true) => HttpMethods.IsDelete(method),
                (Resource.Patches or Resource.Document, false) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method),
                (Resource.Changes or Resource.PrefixChanges or Resource.List, false) => HttpMethods.IsGet(method),
                _ => false,
            };
            if (!allowed)
            {
                context.Response.Headers.Allow = resource switch
                {
                    Resource.Patches => "GET, POST",
                    Resource.Document => "GET, HEAD, DELETE",
                    Resource.Trim => "POST",
                    _ => "GET",
                };
                await WriteErrorAsync(context, StatusCodes.Status405MethodNotAllowed, $"{method} is not served here");
                return;
            }

            if (resource is Resource.PrefixChanges or Resource.List)
            {
                if (await PrefixAsync(context, key.Key, key.Name) is { } prefix)
                {
                    await (resource == Resource.List ? ListAsync(context, prefix) : FollowPrefixAsync(context, prefix));
                }

                return;
            }

            if (ApiKeys.Check(key.Key, document, write) != ApiAccess.Allowed)
            {
                logger.LogWarning("Refused API key {Key} {Method} on {Document}: {Reason}", key.Name, method, document,
                    key.Key.Reaches(document) ? "the key is read-only" : "not under the key's prefixes");
                await WriteErrorAsync(context, StatusCodes.Status403Forbidden,
                    key.Key.Reaches(document) ? "this API key is read-only" : "this API key does not reach this document");
                return;
            }

            try
            {
                var served = (resource, write) switch
                {
                    (Resource.Patches, true) => PublishAsync(context, document, key.Name),
                    (Resource.Patches, false) => ReadHistoryAsync(context, document),
                    (Resource.Document, true) => DeleteAsync(context, document, key.Name),
                    (Resource.Trim, _) => TrimAsync(context, document, key.Name),
                    (Resource.Changes, _) => FollowAsync(context, document),
                    _ => ReadStateAsync(context, document),
                };
                await served;
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The caller went away; a publish it started is journaled or not, and its retry finds out which.
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                // A body Kestrel could not read (a broken chunked encoding, a client that stalled).
                await WriteErrorAsync(context, e.StatusCode, "the request body could not be read: " + e.Message);
            }
        }

        private async Task PublishAsync(HttpContext context, DocumentName document, string keyName)
        {
            var request = context.Request;
            if (!TryKind(request.ContentType, out var isText))
            {
                await WriteErrorAsync(context, StatusCodes.Status415UnsupportedMediaType,
                    "Content-Type must be text/*, application/json (or +json) for a text patch, application/octet-stream for a binary one");
                return;
            }

            if (request.ContentLength > options.MaxMessageBytes)
            {
                await TooLargeAsync(context);
                return;
            }

            long? ifHead = null;
            if (request.Headers.IfMatch.Count > 0)
            {
                var value = request.Headers.IfMatch.ToString().Trim().Trim('"');
                if (request.Headers.IfMatch.Count != 1 || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var head))
                {
                    await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "If-Match must be one sequence number (0 or more): the head to publish after");
                    return;
                }

                ifHead = head;
            }

            var idempotencyKey = request.Headers["Idempotency-Key"];
            var hasClient = request.Query.ContainsKey("client") || request.Query.ContainsKey("id");
            if (idempotencyKey.Count > 0 && hasClient)
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "use Idempotency-Key or client and id, not both");
                return;
            }

            string? client = null;
            long id = 0;
            if (hasClient && !TryClient(request.Query, out client, out id, out var clientError))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, clientError);
                return;
            }

            if (idempotencyKey.Count > 0 && (idempotencyKey.Count != 1 || idempotencyKey[0] is not { Length: > 0 and <= MaxIdempotencyKeyLength } k || k.Any(c => c < ' ' || c > '~')))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"Idempotency-Key must be 1 to {MaxIdempotencyKeyLength} printable ASCII characters");
                return;
            }

            if (await ReadBodyAsync(context) is not { } payload)
            {
                await TooLargeAsync(context);
                return;
            }

            if (isText && !System.Text.Unicode.Utf8.IsValid(payload))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "a text patch must be valid UTF-8");
                return;
            }

            var publish = (client is not null
                ? PublishRequest.AsClient(client, id, payload, isText)
                : idempotencyKey.Count > 0
                    ? PublishRequest.WithIdempotencyKey(keyName, idempotencyKey[0]!, payload, isText)
                    : PublishRequest.Once(payload, isText)) with { IfHead = ifHead };
            var result = await documents.PublishAsync(document, publish, context.RequestAborted);
            switch (result.Outcome)
            {
                case PublishOutcome.Journaled:
                    await WriteJsonAsync(context, json =>
                    {
                        json.WriteNumber("seq", result.Sequence);
                        json.WriteString("epoch", RelayV1.FormatEpoch(result.Epoch));
                    });
                    return;
                case PublishOutcome.HeadMoved:
                    await WriteErrorAsync(context, StatusCodes.Status412PreconditionFailed, $"the head is {result.Sequence}, not {ifHead}", json =>
                    {
                        json.WriteNumber("head", result.Sequence);
                        json.WriteString("epoch", RelayV1.FormatEpoch(result.Epoch));
                    });
                    return;
                case PublishOutcome.IdReused:
                    await WriteErrorAsync(context, StatusCodes.Status409Conflict, client is null
                        ? "this Idempotency-Key was used with another body"
                        : $"id {id} of client {client} was journaled with another body");
                    return;
                case PublishOutcome.IdBehind:
                case PublishOutcome.IdOutOfOrder:
                    await WriteErrorAsync(context, StatusCodes.Status409Conflict,
                        $"client {client}'s last id is {result.LastId}: the next id is {result.LastId + 1}, and only the last one can be retried",
                        json => json.WriteNumber("lastId", result.LastId));
                    return;
                default:
                    context.Response.Headers.RetryAfter = "1";
                    await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable,
                        "the document's sequencer did not confirm the patch in time; retry with the same Idempotency-Key or client and id");
                    return;
            }
        }

        private async Task DeleteAsync(HttpContext context, DocumentName document, string keyName)
        {
            var result = await documents.DeleteHistoryAsync(document, context.RequestAborted);
            if (result.Status == HistoryEditStatus.Done)
            {
                logger.LogInformation("API key {Key} deleted the history of {Document} through {Through}", keyName, document, result.Through);
                await WriteJsonAsync(context, json =>
                {
                    json.WriteString("document", document.Value);
                    json.WriteNumber("deletedThrough", result.Through);
                    json.WriteString("epoch", RelayV1.FormatEpoch(result.Epoch));
                });
                return;
            }

            await HistoryEditFailedAsync(context, document, result);
        }

        private async Task TrimAsync(HttpContext context, DocumentName document, string keyName)
        {
            if (!context.Request.Query.ContainsKey("before") || !TryNumber(context.Request.Query, "before", 1, long.MaxValue, 1, out var before))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "before must be a sequence number (1 or more): the first one kept");
                return;
            }

            var result = await documents.TrimHistoryAsync(document, before, context.RequestAborted);
            if (result.Status == HistoryEditStatus.Done)
            {
                logger.LogInformation("API key {Key} trimmed the history of {Document} through {Through}", keyName, document, result.Through);
                await WriteJsonAsync(context, json =>
                {
                    json.WriteString("document", document.Value);
                    json.WriteNumber("trimmedThrough", result.Through);
                    json.WriteNumber("snapshot", result.JoinSnapshot);
                    json.WriteNumber("head", result.Head);
                    json.WriteString("epoch", RelayV1.FormatEpoch(result.Epoch));
                });
                return;
            }

            await HistoryEditFailedAsync(context, document, result);
        }

        private static Task HistoryEditFailedAsync(HttpContext context, DocumentName document, HistoryEditResult result)
        {
            switch (result.Status)
            {
                case HistoryEditStatus.NotFound:
                    return WriteErrorAsync(context, StatusCodes.Status404NotFound, $"document {document.Value} has no history");
                case HistoryEditStatus.NotKept:
                    return WriteErrorAsync(context, StatusCodes.Status409Conflict, result.Reason ?? "not covered by a snapshot", json =>
                    {
                        json.WriteNumber("snapshot", result.JoinSnapshot);
                        json.WriteNumber("head", result.Head);
                    });
                case HistoryEditStatus.Bad:
                    return WriteErrorAsync(context, StatusCodes.Status400BadRequest, result.Reason ?? "bad request", json => json.WriteNumber("head", result.Head));
                default:
                    context.Response.Headers.RetryAfter = "1";
                    return WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, (result.Reason ?? "the document's sequencer did not answer in time") + "; retry");
            }
        }

        // The prefix query parameter of the prefix feed and the list, once the key reaches every document under it;
        // null once refused.
        private async Task<string?> PrefixAsync(HttpContext context, ApiKeyOptions key, string keyName)
        {
            var prefixes = context.Request.Query["prefix"];
            var prefix = prefixes.Count == 1 ? prefixes[0] ?? "" : "";
            if (prefixes.Count > 1 || (prefix.Length > 0 && !ApiKeyOptions.IsPrefix(prefix)))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "prefix must be one start of a document name (segments of A-Z a-z 0-9 . _ ~ - separated by /), or empty for every document");
                return null;
            }

            if (!key.ReachesPrefix(prefix))
            {
                logger.LogWarning("Refused API key {Key} the documents under prefix {Prefix}: not under the key's prefixes", keyName, prefix);
                await WriteErrorAsync(context, StatusCodes.Status403Forbidden, "this API key does not reach every document under this prefix");
                return null;
            }

            return prefix;
        }

        private async Task ListAsync(HttpContext context, string prefix)
        {
            var query = context.Request.Query;
            if (!TryNumber(query, "limit", 1, MaxLimit, DefaultLimit, out var limit))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"limit must be a whole number from 1 to {MaxLimit}");
                return;
            }

            string? cursor = null;
            if (query.TryGetValue("cursor", out var cursors) && !ListCursor.TryRead(cursors, out cursor))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "cursor must be one next cursor of an earlier page, as it was given");
                return;
            }

            if (await documents.ListAsync(prefix, cursor, (int)limit, context.RequestAborted) is not { } page)
            {
                context.Response.Headers.RetryAfter = "1";
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "the journal did not answer");
                return;
            }

            await WriteJsonAsync(context, json =>
            {
                json.WriteStartArray("documents");
                foreach (var known in page.Documents)
                {
                    json.WriteStartObject();
                    json.WriteString("document", known.Document.Value);
                    json.WriteNumber("head", known.Head);
                    json.WriteString("lastWrite", known.LastWrite);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                if (page.Next is { } next)
                {
                    json.WriteString("next", ListCursor.Write(next));
                }
                else
                {
                    json.WriteNull("next");
                }
            });
        }

        private async Task FollowPrefixAsync(HttpContext context, string prefix)
        {
            if (!PrefixFeed.TryParseAfter(context, out var after, out var error))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, error);
                return;
            }

            using var open = ApiMetrics.OpenFeed(ApiOperation.PrefixFeed);
            await PrefixFeed.StreamAsync(context, documents, prefix, after, lifetime.ApplicationStopping);
        }

        private async Task FollowAsync(HttpContext context, DocumentName document)
        {
            if (!ChangeFeed.TryParse(context, out var protocol, out var error))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, error);
                return;
            }

            using var lease = documents.TryAdmit(document);
            if (lease is null)
            {
                context.Response.Headers.RetryAfter = "5";
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "too many documents open on this node (Relay:Documents:MaxOpenPerNode)");
                return;
            }

            var connection = await documents.ConnectAsync(document, protocol);
            using var open = ApiMetrics.OpenFeed(ApiOperation.DocumentFeed);
            await ChangeFeed.StreamAsync(context, document, connection, lifetime.ApplicationStopping);
        }

        private async Task ReadStateAsync(HttpContext context, DocumentName document)
        {
            var read = await documents.ReadStateAsync(document, context.RequestAborted);
            if (read is { Outcome: ReadOutcome.Read, Value: { } state })
            {
                await WriteJsonAsync(context, json =>
                {
                    json.WriteString("document", document.Value);
                    json.WriteString("epoch", RelayV1.FormatEpoch(state.Epoch));
                    json.WriteNumber("head", state.Head);
                    json.WritePropertyName("state");
                    json.WriteRawValue(state.State.Span, skipInputValidation: true);
                });
                return;
            }

            await ReadFailedAsync(context, document, read.Outcome, read.Reason);
        }

        private async Task ReadHistoryAsync(HttpContext context, DocumentName document)
        {
            var query = context.Request.Query;
            if (!TryNumber(query, "after", 0, long.MaxValue, 0, out var after))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "after must be a sequence number (0 or more)");
                return;
            }

            if (!TryNumber(query, "limit", 1, MaxLimit, DefaultLimit, out var limit))
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, $"limit must be a whole number from 1 to {MaxLimit}");
                return;
            }

            var read = await documents.ReadHistoryAsync(document, after, (int)limit, Math.Max(PageBytes, options.MaxMessageBytes), context.RequestAborted);
            if (read is not { Outcome: ReadOutcome.Read, Value: { } page })
            {
                await ReadFailedAsync(context, document, read.Outcome, read.Reason);
                return;
            }

            await WriteJsonAsync(context, json =>
            {
                json.WriteString("document", document.Value);
                json.WriteString("epoch", RelayV1.FormatEpoch(page.Epoch));
                json.WriteNumber("head", page.Head);
                json.WriteStartArray("patches");
                foreach (var patch in page.Patches)
                {
                    json.WriteStartObject();
                    ApiJson.WritePatch(json, patch.Sequence, patch.Payload.Span, patch.IsText);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteNumber("next", page.ReadThrough);
            });
        }

        private static Task ReadFailedAsync(HttpContext context, DocumentName document, ReadOutcome outcome, string? reason)
        {
            switch (outcome)
            {
                case ReadOutcome.NotFound:
                    return WriteErrorAsync(context, StatusCodes.Status404NotFound, $"document {document.Value} has no history");
                case ReadOutcome.NotKept:
                case ReadOutcome.NotCompactable:
                    return WriteErrorAsync(context, StatusCodes.Status409Conflict, reason ?? "not kept",
                        json => json.WriteString("history", DocumentsPath + Uri.EscapeDataString(document.Value).Replace("%2F", "/", StringComparison.Ordinal) + "/patches"));
                default:
                    context.Response.Headers.RetryAfter = "1";
                    return WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, "the document's sequencer or its journal did not answer in time");
            }
        }

        private Task TooLargeAsync(HttpContext context) =>
            WriteErrorAsync(context, StatusCodes.Status413PayloadTooLarge, $"a patch is at most {options.MaxMessageBytes} bytes (Relay:MaxMessageBytes)");

        // The body, or null once it passes Relay:MaxMessageBytes (read no further than one byte past it).
        private async Task<byte[]?> ReadBodyAsync(HttpContext context)
        {
            var limit = options.MaxMessageBytes;
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }
    }

    private enum Resource
    {
        Document,
        Patches,
        Trim,
        Changes,
        PrefixChanges,
        List,
    }

    /// <summary>
    /// The document and resource of <c>/api/v1/documents/NAME[/patches]</c>, from the raw path: the name is decoded
    /// once, as a WebSocket path is, so <c>%2F</c> in the last segment names a document whose name ends in
    /// <c>/patches</c>. False with an empty error: no such path; with one: a bad name.
    /// </summary>
    private static bool TryRoute(HttpContext context, out DocumentName document, out Resource resource, out string error)
    {
        document = default;
        resource = Resource.Document;
        error = string.Empty;
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        var query = raw.IndexOf('?');
        var path = query >= 0 ? raw[..query] : raw;
        if (path == ChangesPath || path == DocumentsPath[..^1])
        {
            resource = path == ChangesPath ? Resource.PrefixChanges : Resource.List;
            return true;
        }

        if (!path.StartsWith(DocumentsPath, StringComparison.Ordinal) || path.Length == DocumentsPath.Length)
        {
            return false;
        }

        var name = path[(DocumentsPath.Length - 1)..];
        if (name.EndsWith("/patches", StringComparison.Ordinal))
        {
            resource = Resource.Patches;
            name = name[..^"/patches".Length];
        }
        else if (name.EndsWith("/changes", StringComparison.Ordinal))
        {
            resource = Resource.Changes;
            name = name[..^"/changes".Length];
        }
        else if (name.EndsWith("/trim", StringComparison.Ordinal))
        {
            resource = Resource.Trim;
            name = name[..^"/trim".Length];
        }

        if (!DocumentName.TryParse(Uri.UnescapeDataString(name), out document, out var reason) || document.IsDefault)
        {
            error = document.IsDefault && reason.Length == 0 ? "the API names a document: /api/v1/documents/NAME" : "bad document name: " + reason;
            return false;
        }

        return true;
    }

    private static bool TryKind(string? contentType, out bool isText)
    {
        var type = (contentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        isText = type.StartsWith("text/", StringComparison.Ordinal) || type == "application/json" || type.EndsWith("+json", StringComparison.Ordinal);
        return isText || type == "application/octet-stream";
    }

    private static bool TryClient(IQueryCollection query, out string? client, out long id, out string error)
    {
        client = query["client"] is { Count: 1 } c && RelayV1.ClientIdPattern().IsMatch(c[0]!) ? c[0] : null;
        id = 0;
        if (client is null)
        {
            error = "client must be 1 to 64 characters of A-Z a-z 0-9 _ -, with an id";
            return false;
        }

        if (!TryNumber(query, "id", 1, RelayV1.MaxPatchId, 0, out id) || id == 0)
        {
            error = "id must be a whole number from 1 to 2^53 - 1, with a client";
            return false;
        }

        error = string.Empty;
        return true;
    }

    private static bool TryNumber(IQueryCollection query, string name, long min, long max, long fallback, out long value)
    {
        value = fallback;
        if (!query.TryGetValue(name, out var values))
        {
            return true;
        }

        return values.Count == 1 && long.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    }
}

/// <summary>The list's cursor: where the last page ended, opaque to callers (base64url of the journal's key).</summary>
internal static class ListCursor
{
    /// <summary>The cursor of <paramref name="position"/>.</summary>
    public static string Write(string position) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(position)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The position <paramref name="values"/> (one cursor query value) names; false when it is no cursor.</summary>
    public static bool TryRead(Microsoft.Extensions.Primitives.StringValues values, out string? position)
    {
        position = null;
        if (values.Count != 1 || values[0] is not { Length: > 0 and <= 512 } text)
        {
            return false;
        }

        var base64 = text.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - (base64.Length % 4)) % 4);
        var bytes = new byte[base64.Length];
        if (!Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }

        position = Encoding.UTF8.GetString(bytes, 0, written);
        return true;
    }
}

/// <summary>How the API writes a patch in JSON, in a page of history and in the change feed alike.</summary>
internal static class ApiJson
{
    /// <summary><c>"seq":N</c>, then <c>"text":"…"</c> for a text patch or <c>"base64":"…"</c> for a binary one.</summary>
    public static void WritePatch(Utf8JsonWriter json, long sequence, ReadOnlySpan<byte> payload, bool isText)
    {
        json.WriteNumber("seq", sequence);
        if (isText)
        {
            json.WriteString("text", payload);
        }
        else
        {
            json.WriteBase64String("base64", payload);
        }
    }
}
