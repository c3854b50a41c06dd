using OpenTelemetry.Metrics;
using Relay.Actors.Diagnostics;

namespace Relay.Gateway.Operations;

/// <summary>Metrics of the <c>Relay</c> meter, exported as Prometheus text at <c>GET /metrics</c> through OpenTelemetry.</summary>
public static class Telemetry
{
    /// <summary>The scrape path.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Registers OpenTelemetry's metrics pipeline with the Prometheus exporter.</summary>
    public static WebApplicationBuilder AddRelayTelemetry(this WebApplicationBuilder builder)
    {
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(RelayMetrics.MeterName)
                .AddPrometheusExporter());
        return builder;
    }

    /// <summary>Maps <c>GET /metrics</c>.</summary>
    public static IEndpointRouteBuilder MapRelayMetrics(this IEndpointRouteBuilder app)
    {
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        return app;
    }
}
