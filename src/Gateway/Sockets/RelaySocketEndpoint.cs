using System.Net.WebSockets;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Gateway.Operations;

namespace Relay.Gateway.Sockets;

/// <summary>The relay's one endpoint, <c>/</c>: WebSocket upgrades join the relay, plain requests get the node's status.</summary>
public static class RelaySocketEndpoint
{
    private static readonly TimeSpan ReadyWait = TimeSpan.FromSeconds(10);

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

    /// <summary>Maps <c>/</c>.</summary>
    public static IEndpointRouteBuilder MapRelaySocket(this IEndpointRouteBuilder app)
    {
        // Resolved once: a request that touches no service gets no per-request DI scope, which every open
        // socket would otherwise keep for its lifetime.
        var services = app.ServiceProvider;
        var status = services.GetRequiredService<NodeStatus>();
        var sessions = services.GetRequiredService<SocketSessions>();
        var options = services.GetRequiredService<RelayOptions>();
        var gate = services.GetRequiredService<UpgradeGate>();
        var logger = services.GetRequiredService<ILogger<SocketSession>>();
        app.Map("/", context => HandleAsync(context, status, sessions, gate, options, logger));
        return app;
    }

    private static async Task HandleAsync(
        HttpContext context,
        NodeStatus status,
        SocketSessions sessions,
        UpgradeGate gate,
        RelayOptions options,
        ILogger<SocketSession> logger)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Results.Json(new
            {
                service = "relay",
                status = status.FirstReady.IsCompleted ? "ready" : "starting",
                websocket = $"ws://{context.Request.Host}/",
                // The figure MaxConnections is checked against: a socket counts until its session has fully ended.
                connections = gate.Admitted,
                lastSequence = status.LastSequence,
            }).ExecuteAsync(context);
            return;
        }

        using var slot = await gate.AdmitAsync(context);
        if (slot is null)
        {
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

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { DangerousEnableCompression = false });
        var stream = (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>() as FrameBatchingStream.UpgradeFeature)?.Stream;
        var session = new SocketSession(socket, stream, sessions, options, logger);
        await session.RunAsync();
    }
}
