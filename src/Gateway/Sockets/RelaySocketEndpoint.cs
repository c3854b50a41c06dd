using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Features;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Gateway.Operations;

namespace Relay.Gateway.Sockets;

/// <summary>
/// The relay's endpoint: a URL's path names a document (<c>/</c> the default one); WebSocket upgrades join it,
/// plain requests get its status.
/// </summary>
public static class RelaySocketEndpoint
{
    private static readonly TimeSpan ReadyWait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Lets socket sessions batch their outgoing frames; runs before <c>UseWebSockets</c>, which takes the
    /// request's upgrade feature when it sees the request.
    /// </summary>
    public static IApplicationBuilder UseFrameBatching(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
            {
                context.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>(new FrameBatchingStream.UpgradeFeature(upgrade));
            }

            return next(context);
        });

    /// <summary>
    /// Turns away WebSocket upgrades to the plain HTTP endpoints (<c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>)
    /// with 400: those paths are not documents.
    /// </summary>
    public static IApplicationBuilder UseOperationsPathsWithoutUpgrades(this IApplicationBuilder app, params string[] paths) =>
        app.Use((context, next) =>
        {
            if (context.WebSockets.IsWebSocketRequest && paths.Any(path => context.Request.Path.Equals(path, StringComparison.OrdinalIgnoreCase)))
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return context.Response.WriteAsync($"{context.Request.Path} is not a document; it answers plain HTTP only\n");
            }

            return next(context);
        });

    /// <summary>Maps every other path: <c>/</c> is the default document, <c>/NAME</c> the document NAME.</summary>
    public static IEndpointRouteBuilder MapRelaySocket(this IEndpointRouteBuilder app)
    {
        // Resolved once: a request that touches no service gets no per-request DI scope, which every open
        // socket would otherwise keep for its lifetime.
        var services = app.ServiceProvider;
        var endpoint = new Handler(
            services.GetRequiredService<NodeStatus>(),
            services.GetRequiredService<SocketSessions>(),
            services.GetRequiredService<RelayDocuments>(),
            services.GetRequiredService<UpgradeGate>(),
            services.GetRequiredService<RelayOptions>(),
            services.GetRequiredService<GatewayOptions>(),
            services.GetRequiredService<ILogger<SocketSession>>());
        app.Map("/{**document}", endpoint.HandleAsync);
        return app;
    }

    /// <summary>
    /// The document a request names: its raw path, percent-decoded once, so that an encoded slash separates
    /// segments like a plain one and nothing the server normalises hides a bad name.
    /// </summary>
    private static bool TryGetDocument(HttpContext context, out DocumentName document, out string error)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
        var query = raw.IndexOf('?');
        var path = query >= 0 ? raw[..query] : raw;
        return DocumentName.TryParse(Uri.UnescapeDataString(path), out document, out error);
    }

    private sealed class Handler(
        NodeStatus status,
        SocketSessions sessions,
        RelayDocuments documents,
        UpgradeGate gate,
        RelayOptions relay,
        GatewayOptions options,
        ILogger<SocketSession> logger)
    {
        public async Task HandleAsync(HttpContext context)
        {
            if (!TryGetDocument(context, out var document, out var error))
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync(error + "\n");
                return;
            }

            if (!context.WebSockets.IsWebSocketRequest)
            {
                await WriteStatusAsync(context, document);
                return;
            }

            var protocol = ClientProtocol.Raw;
            if (RelayV1.IsRequested(context) && !RelayV1.TryParseRequest(context.Request.Query, out protocol, out var protocolError))
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync(protocolError + "\n");
                return;
            }

            using var slot = await gate.AdmitAsync(context, document);
            if (slot is null)
            {
                return;
            }

            if (protocol.Enveloped && context.User.FindFirst("sub")?.Value is { Length: > 0 } subject)
            {
                // With tokens checked, the token says who the client is, not the query (docs/protocol.md, "Who a client is").
                protocol = protocol with { User = subject };
            }

            using var lease = documents.TryAdmit(document);
            if (lease is null)
            {
                logger.LogWarning("Refused an upgrade to {Document}: {MaxOpen} documents open on this node (Relay:Documents:MaxOpenPerNode)", document, relay.Documents.MaxOpenPerNode);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.RetryAfter = "5";
                await context.Response.WriteAsync("too many documents open on this node\n");
                return;
            }

            // A socket accepted before the node can relay would miss patches; make the client wait a little, or retry.
            if (!status.FirstReady.IsCompleted)
            {
                try
                {
                    await status.FirstReady.WaitAsync(ReadyWait, context.RequestAborted);
                }
                catch (TimeoutException)
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    context.Response.Headers.RetryAfter = "1";
                    await context.Response.WriteAsync("relay node is not ready yet");
                    return;
                }
            }

            var connection = await sessions.OpenAsync(document, protocol);
            WebSocket socket;
            try
            {
                socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
                {
                    DangerousEnableCompression = false,
                    SubProtocol = protocol.Enveloped ? RelayV1.SubProtocol : null,
                });
            }
            catch
            {
                // The client is gone before its socket was: the connection ends unused.
                connection.Disconnect();
                sessions.Remove(connection.Id);
                throw;
            }

            using var _ = socket;
            var stream = (context.Features.Get<IHttpUpgradeFeature>() as FrameBatchingStream.UpgradeFeature)?.Stream;
            var session = new SocketSession(socket, stream, sessions, connection, document, ClientCodec.For(protocol), relay, options, logger);
            await session.RunAsync();
        }

        private async Task WriteStatusAsync(HttpContext context, DocumentName document)
        {
            if (document.IsDefault)
            {
                await Results.Json(new
                {
                    service = "relay",
                    status = status.FirstReady.IsCompleted ? "ready" : "starting",
                    document = document.Value,
                    websocket = $"ws://{context.Request.Host}/",
                    // The figure MaxConnections is checked against: a socket counts until its session has fully ended.
                    connections = gate.Admitted,
                    lastSequence = status.LastSequence,
                    openDocuments = documents.OpenDocuments,
                    // The documents whose sequencer runs on this node.
                    sequencers = status.Sequencers.Select(name => name.Value).Order(StringComparer.Ordinal).ToArray(),
                }).ExecuteAsync(context);
                return;
            }

            if (!await gate.AuthorizeAsync(context, document))
            {
                return;
            }

            if (await documents.TryGetStatusAsync(document, StatusTimeout) is not { } documentStatus)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.RetryAfter = "1";
                await context.Response.WriteAsync("the document's sequencer did not answer in time\n");
                return;
            }

            await Results.Json(new
            {
                service = "relay",
                document = document.Value,
                websocket = $"ws://{context.Request.Host}{document.Path}",
                lastSequence = documentStatus.LastSequence,
                snapshot = documentStatus.JoinSnapshot,
            }).ExecuteAsync(context);
        }
    }
}
