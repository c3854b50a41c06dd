using Akka.Actor;
using Newtonsoft.Json;
using Relay.Actors.Hosting;

namespace Relay.Gateway.Operations;

/// <summary>
/// The one route Cluster Bootstrap needs of a contact point, <c>GET /bootstrap/seed-nodes</c>, on a Kestrel listener of its
/// own at <c>Relay:Akka:Bootstrap:ManagementPort</c>: that port answers this route only (no WebSocket, no health, no access
/// control: peers' probes carry no token), and the route is on no other port. Akka.Management's own HTTP server is not
/// used (it fails at start on the Ceen.Httpd served).
/// </summary>
public static class BootstrapEndpoint
{
    /// <summary>The route's path, as Akka.Management's <c>HttpContactPointBootstrap</c> asks for it.</summary>
    public const string SeedNodesPath = "/bootstrap/seed-nodes";

    /// <summary>
    /// With the bootstrap on, adds the management listener to Kestrel's <c>urls</c> and registers the answer's source.
    /// Throws when the listen addresses are not given as <c>urls</c> (then the listener could not be added) or share the port.
    /// </summary>
    public static WebApplicationBuilder AddRelayBootstrapListener(this WebApplicationBuilder builder, RelayOptions options)
    {
        var bootstrap = options.Akka.Bootstrap;
        if (!bootstrap.IsEnabled)
        {
            return builder;
        }

        if (!string.IsNullOrWhiteSpace(builder.Configuration["http_ports"]) || builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            throw new InvalidOperationException("With Relay:Akka:Bootstrap:Discovery set, give Kestrel's listen addresses as urls (ASPNETCORE_URLS), not http_ports or Kestrel:Endpoints");
        }

        var urls = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey) ?? RelayNodeSetup.DefaultUrl;
        if (urls.Split(';', StringSplitOptions.RemoveEmptyEntries).Any(url => PortOf(url) == bootstrap.ManagementPort))
        {
            throw new InvalidOperationException($"Relay:Akka:Bootstrap:ManagementPort {bootstrap.ManagementPort} is also a WebSocket port ({urls}); give it a port of its own");
        }

        // An address binds that address; a host name (a container's) binds every interface, as Kestrel does for names.
        var host = bootstrap.EffectiveManagementHostname(options.Akka.Hostname);
        var bind = System.Net.IPAddress.TryParse(host, out var address) ? address.ToString() : "+";
        builder.WebHost.UseUrls($"{urls};http://{(bind.Contains(':') ? $"[{bind}]" : bind)}:{bootstrap.ManagementPort}");
        builder.Services.AddSingleton(services => new BootstrapSeedNodes(services.GetRequiredService<ActorSystem>()));
        return builder;
    }

    /// <summary>
    /// Branches every request to the management port off before anything else runs; the branch answers the route, and
    /// 404 to anything else.
    /// </summary>
    public static WebApplication UseRelayBootstrapRoute(this WebApplication app)
    {
        var bootstrap = app.Services.GetRequiredService<RelayOptions>().Akka.Bootstrap;
        if (!bootstrap.IsEnabled)
        {
            return app;
        }

        app.MapWhen(
            context => context.Connection.LocalPort == bootstrap.ManagementPort,
            management => management.Run(context =>
            {
                if (!HttpMethods.IsGet(context.Request.Method) || context.Request.Path != SeedNodesPath)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }

                // Newtonsoft with its default settings: the prober reads the answer with exactly those.
                var answer = context.RequestServices.GetRequiredService<BootstrapSeedNodes>().Current();
                context.Response.ContentType = "application/json";
                context.Response.Headers.CacheControl = "no-store";
                return context.Response.WriteAsync(JsonConvert.SerializeObject(answer));
            }));
        return app;
    }

    private static int? PortOf(string url) =>
        Uri.TryCreate(url.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            ? uri.Port
            : null;
}
