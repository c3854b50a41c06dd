using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Relay.Actors.Hosting;

namespace Relay.Gateway.Operations;

/// <summary><c>GET /healthz</c> (liveness) and <c>GET /readyz</c> (readiness) on ASP.NET Core's health checks.</summary>
public static class HealthEndpoints
{
    /// <summary>The liveness path.</summary>
    public const string LivePath = "/healthz";

    /// <summary>The readiness path.</summary>
    public const string ReadyPath = "/readyz";

    /// <summary>Registers the gateway's own readiness check, <c>accepting</c>: false once the node shuts down.</summary>
    public static WebApplicationBuilder AddRelayHealthChecks(this WebApplicationBuilder builder)
    {
        builder.Services.AddHealthChecks()
            .AddCheck<AcceptingHealthCheck>("accepting", tags: [RelayHealthChecks.ReadyTag]);
        return builder;
    }

    /// <summary>Maps the two endpoints; each answers JSON naming every check and what it found.</summary>
    /// <remarks>What they answer is logged when it changes (<see cref="HealthLog"/>), not on every poll.</remarks>
    public static IEndpointRouteBuilder MapRelayHealth(this IEndpointRouteBuilder app)
    {
        var logger = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(HealthEndpoints).FullName!);
        var gate = app.ServiceProvider.GetRequiredService<UpgradeGate>();
        app.MapHealthChecks(LivePath, Options(RelayHealthChecks.LiveTag, new HealthLog(LivePath, logger, () => gate.IsStopping)));
        app.MapHealthChecks(ReadyPath, Options(RelayHealthChecks.ReadyTag, new HealthLog(ReadyPath, logger, () => gate.IsStopping)));
        return app;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private static HealthCheckOptions Options(string tag, HealthLog log) => new()
    {
        Predicate = check => check.Tags.Contains(tag),
        ResultStatusCodes =
        {
            [HealthStatus.Healthy] = StatusCodes.Status200OK,
            // Degraded serves: a node that skips holes in its journal still delivers everything else.
            [HealthStatus.Degraded] = StatusCodes.Status200OK,
            [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
        },
        ResponseWriter = (context, report) =>
        {
            log.Observe(report);
            return WriteAsync(context, report);
        },
    };

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        var body = new
        {
            status = report.Status.ToString(),
            missing = report.Entries.Where(entry => entry.Value.Status == HealthStatus.Unhealthy).Select(entry => entry.Key).ToArray(),
            checks = report.Entries.ToDictionary(
                entry => entry.Key,
                entry => new
                {
                    status = entry.Value.Status.ToString(),
                    description = Describe(entry.Value),
                    data = entry.Value.Data.Count > 0 && entry.Value.Exception is null ? entry.Value.Data : null,
                }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, JsonOptions, context.RequestAborted);
    }

    // An exception's message can name hosts, users, file paths or table names, and /readyz needs no credentials:
    // the body says only that the check failed. HealthLog logs the exception itself.
    private static string? Describe(HealthReportEntry entry) =>
        entry.Exception is not null ? "failed; see the node's log"
        : entry.Description;

    private sealed class AcceptingHealthCheck(UpgradeGate gate) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(gate.IsStopping
                ? HealthCheckResult.Unhealthy("the node is shutting down")
                : HealthCheckResult.Healthy("accepting connections"));
    }
}
