using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Relay.Gateway.Operations;

/// <summary>
/// Logs what one health endpoint answers when it changes, not every poll: a node that is not ready yet while it
/// starts is expected (Information), one that was ready and is not any more is a warning, with the failing checks'
/// descriptions and exceptions; shutting down is expected again. Replaces the health check service's own log,
/// which reports every unhealthy poll as an error (off in appsettings.json). Polls overlap (several probes, a slow
/// journal check): a report whose checks started before those of the last one observed is stale and ignored, so an
/// old "not ready" never follows a newer "ready".
/// </summary>
public sealed partial class HealthLog(string endpoint, ILogger logger, Func<bool> stopping)
{
    private readonly Lock _lock = new();
    private string? _last;
    private bool _wasReady;
    private long _latestStarted;

    /// <summary>The endpoint answered <paramref name="report"/>.</summary>
    public void Observe(HealthReport report)
    {
        var failing = report.Entries.Where(entry => entry.Value.Status != HealthStatus.Healthy).OrderBy(entry => entry.Key).ToList();
        var summary = report.Status + ":" + string.Join(',', failing.Select(entry => entry.Key + "=" + entry.Value.Status));
        var started = Stopwatch.GetTimestamp() - (long)(report.TotalDuration.TotalSeconds * Stopwatch.Frequency);
        bool wasReady;
        lock (_lock)
        {
            if (started < _latestStarted)
            {
                return;
            }

            _latestStarted = started;
            if (summary == _last)
            {
                return;
            }

            _last = summary;
            wasReady = _wasReady;
            _wasReady |= report.Status != HealthStatus.Unhealthy;
        }

        var details = string.Join("; ", failing.Select(entry => $"{entry.Key}: {entry.Value.Description ?? entry.Value.Exception?.Message}"));
        var exception = failing.Select(entry => entry.Value.Exception).FirstOrDefault(exception => exception is not null);
        switch (report.Status)
        {
            case HealthStatus.Healthy:
                LogHealthy(logger, endpoint, wasReady ? "again" : "now");
                break;
            case HealthStatus.Unhealthy when !wasReady || stopping():
                LogNotYet(logger, endpoint, details);
                break;
            case HealthStatus.Unhealthy:
                LogUnhealthy(logger, exception, endpoint, details);
                break;
            default:
                LogDegraded(logger, exception, endpoint, details);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Endpoint}: healthy {When}")]
    private static partial void LogHealthy(ILogger logger, string endpoint, string when);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Endpoint}: not healthy (expected while starting or stopping): {Details}")]
    private static partial void LogNotYet(ILogger logger, string endpoint, string details);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Endpoint}: unhealthy: {Details}")]
    private static partial void LogUnhealthy(ILogger logger, Exception? exception, string endpoint, string details);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Endpoint}: degraded: {Details}")]
    private static partial void LogDegraded(ILogger logger, Exception? exception, string endpoint, string details);
}
