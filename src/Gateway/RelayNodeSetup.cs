using Akka.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Relay.Actors.Diagnostics;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Gateway.Operations;
using Relay.Gateway.Sockets;
using AkkaLogLevel = Akka.Event.LogLevel;

namespace Relay.Gateway;

/// <summary>Registers a Relay node (its actor system and socket sessions) with the host.</summary>
public static class RelayNodeSetup
{
    /// <summary>The URL Relay listens on when neither <c>--urls</c> nor <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrl = "http://localhost:5001";

    // The category Akka.Hosting's logger factory bridge writes Akka's events under.
    private const string AkkaLogCategory = "Akka.Actor.ActorSystem";

    /// <summary>Applies Relay's defaults that existing clients rely on, such as port 5001.</summary>
    public static WebApplicationBuilder UseRelayDefaults(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"]) &&
            string.IsNullOrWhiteSpace(builder.Configuration["http_ports"]) &&
            string.IsNullOrWhiteSpace(builder.Configuration["Kestrel:Endpoints:Http:Url"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        return builder;
    }

    /// <summary>Binds <see cref="RelayOptions"/> and <see cref="GatewayOptions"/>, and starts the node's actor system.</summary>
    public static WebApplicationBuilder AddRelayNode(this WebApplicationBuilder builder)
    {
        var options = new RelayOptions();
        builder.Configuration.GetSection(RelayOptions.Section).Bind(options);
        options.ResolveFor(builder.Environment.ContentRootPath);
        options.Validate();
        var gateway = new GatewayOptions();
        builder.Configuration.GetSection(RelayOptions.Section).Bind(gateway);
        gateway.Validate(options);
        builder.Services.Configure<SocketTransportOptions>(sockets => sockets.UnsafePreferInlineScheduling = gateway.UnsafePreferInlineScheduling);
        var status = new NodeStatus();
        StartupThreads.HoldUntil(status.WarmedUp);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(gateway);
        builder.Services.AddSingleton(status);
        builder.Services.AddSingleton<RelayDocuments>();
        builder.Services.AddSingleton<SocketSessions>();
        if (options.Webhooks.IsEnabled)
        {
            builder.Services.AddSingleton<IWebhookSender>(new Api.WebhookSender(options.Webhooks));
        }

        builder.AddRelayBootstrapListener(options);
        builder.Services.AddAkka(RelayHostingExtensions.ActorSystemName, (akka, services) =>
        {
            akka.ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
                loggers.LogLevel = AkkaLevelFor(services.GetRequiredService<ILoggerFactory>());
            });
            akka.WithRelay(options, status, Path.Combine(AppContext.BaseDirectory, "akka.hocon"))
                .WithActorSystemLivenessCheck()
                .WithRelayHealthChecks(status)
                .AddStartup((system, _) => RelayMetrics.ObserveNode(system, status, services.GetRequiredService<RelayDocuments>()));
        });

        // Registered after the actor system, so it stops first: sockets close before the node leaves the cluster.
        builder.Services.AddHostedService<GracefulShutdown>();
        return builder;
    }

    /// <summary>
    /// Akka filters log events before they reach ASP.NET Core's logging, so its level must be as low as the
    /// lowest level configured for Akka's category (<c>Logging:LogLevel:Akka</c>, else the default).
    /// </summary>
    private static AkkaLogLevel AkkaLevelFor(ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger(AkkaLogCategory);
        return logger.IsEnabled(LogLevel.Debug) ? AkkaLogLevel.DebugLevel
            : logger.IsEnabled(LogLevel.Information) ? AkkaLogLevel.InfoLevel
            : logger.IsEnabled(LogLevel.Warning) ? AkkaLogLevel.WarningLevel
            : AkkaLogLevel.ErrorLevel;
    }
}
