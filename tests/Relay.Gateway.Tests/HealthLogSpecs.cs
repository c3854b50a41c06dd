using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Relay.Gateway.Operations;
using Xunit;

namespace Relay.Gateway.Tests;

/// <summary>What a health endpoint's answers log (docs/operations.md): changes only, at the level they deserve.</summary>
public sealed class HealthLogSpecs
{
    private readonly Lines _lines = new();
    private bool _stopping;

    [Fact]
    public void Should_log_not_ready_while_starting_at_information_and_each_change_once()
    {
        var log = NewLog();

        log.Observe(Report(("history", HealthStatus.Unhealthy)));
        log.Observe(Report(("history", HealthStatus.Unhealthy)));
        log.Observe(Report(("journal", HealthStatus.Unhealthy)));
        log.Observe(Report());
        log.Observe(Report());

        Assert.Equal(
            [
                (LogLevel.Information, "/readyz: not healthy (expected while starting or stopping): history: history is off"),
                (LogLevel.Information, "/readyz: not healthy (expected while starting or stopping): journal: journal is off"),
                (LogLevel.Information, "/readyz: healthy now"),
            ],
            _lines.All);
    }

    [Fact]
    public void Should_warn_once_a_ready_node_is_not_ready_and_tell_when_it_is_again()
    {
        var log = NewLog();
        log.Observe(Report());

        log.Observe(Report(("journal", HealthStatus.Unhealthy)));
        log.Observe(Report(("holes", HealthStatus.Degraded)));
        log.Observe(Report());

        Assert.Equal(
            [
                (LogLevel.Information, "/readyz: healthy now"),
                (LogLevel.Warning, "/readyz: unhealthy: journal: journal is off"),
                (LogLevel.Warning, "/readyz: degraded: holes: holes is off"),
                (LogLevel.Information, "/readyz: healthy again"),
            ],
            _lines.All);
    }

    [Fact]
    public void Should_not_warn_while_the_node_shuts_down()
    {
        var log = NewLog();
        log.Observe(Report());

        _stopping = true;
        log.Observe(Report(("accepting", HealthStatus.Unhealthy)));

        Assert.Equal(LogLevel.Information, _lines.All[^1].Level);
    }

    [Fact]
    public void Should_ignore_a_report_whose_checks_started_before_the_last_one_observed()
    {
        var log = NewLog();
        log.Observe(Report());

        // A slow poll, begun before the node was ready, finishes after a quicker one that found it ready.
        log.Observe(Report(TimeSpan.FromMinutes(1), ("history", HealthStatus.Unhealthy)));

        Assert.Equal([(LogLevel.Information, "/readyz: healthy now")], _lines.All);
    }

    private HealthLog NewLog() => new("/readyz", _lines, () => _stopping);

    private static HealthReport Report(params (string Name, HealthStatus Status)[] failing) => Report(TimeSpan.Zero, failing);

    private static HealthReport Report(TimeSpan took, params (string Name, HealthStatus Status)[] failing)
    {
        var entries = new Dictionary<string, HealthReportEntry>
        {
            ["accepting"] = new(HealthStatus.Healthy, "accepting connections", TimeSpan.Zero, null, null),
        };
        foreach (var (name, status) in failing)
        {
            entries[name] = new HealthReportEntry(status, $"{name} is off", TimeSpan.Zero, null, null);
        }

        return new HealthReport(entries, took);
    }

    /// <summary>The lines logged, in order.</summary>
    private sealed class Lines : ILogger
    {
        public List<(LogLevel Level, string Message)> All { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            All.Add((logLevel, formatter(state, exception)));
    }
}
