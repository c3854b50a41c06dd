using Relay.Gateway.Operations;

namespace Relay.Gateway.Sockets;

/// <summary>ASP.NET Core's WebSocket middleware, with the keep-alive that frees the slots of dead peers.</summary>
public static class WebSocketSetup
{
    /// <summary>
    /// Pings every client each <c>Relay:KeepAliveIntervalSeconds</c>; one that has not answered within
    /// <c>Relay:KeepAliveTimeoutSeconds</c> is aborted, so a peer that vanished without a FIN (a half-open TCP
    /// connection) frees its socket, its connection actor and its <c>Relay:MaxConnections</c> slot.
    /// </summary>
    public static IApplicationBuilder UseRelayWebSockets(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<GatewayOptions>();
        return app.UseWebSockets(new WebSocketOptions
        {
            KeepAliveInterval = TimeSpan.FromSeconds(options.KeepAliveIntervalSeconds),
            KeepAliveTimeout = options.KeepAliveTimeoutSeconds == 0
                ? Timeout.InfiniteTimeSpan
                : TimeSpan.FromSeconds(options.KeepAliveTimeoutSeconds),
        });
    }
}
