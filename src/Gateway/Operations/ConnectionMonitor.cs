using System.Threading.RateLimiting;
using Relay.Actors.Connections;
using Relay.Actors.Diagnostics;

namespace Relay.Gateway.Operations;

/// <summary>
/// What a socket session reports and what limits it, in one place so the session's loops carry one call each:
/// the connection gauge (from creation to <see cref="Dispose"/>), frame and byte counters, the per-connection
/// message rate (<c>Relay:MaxMessagesPerSecond</c>) and the log line of a faulted close.
/// </summary>
public sealed partial class ConnectionMonitor : IDisposable
{
    /// <summary>How a client over its message rate is closed.</summary>
    public static readonly CloseRequest RateLimited = new(RelayCloseCodes.PolicyViolation, DisconnectReason.RateLimitedText);

    private readonly TokenBucketRateLimiter? _limiter;
    private readonly ILogger _logger;
    private int _disposed;

    /// <summary>Counts a new open connection; <paramref name="maxMessagesPerSecond"/> 0 means no rate limit.</summary>
    public ConnectionMonitor(int maxMessagesPerSecond, ILogger logger)
    {
        _logger = logger;
        if (maxMessagesPerSecond > 0)
        {
            _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = maxMessagesPerSecond,
                TokensPerPeriod = maxMessagesPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
        }

        RelayMetrics.Connections.Add(1);
    }

    /// <summary>A complete client frame of <paramref name="bytes"/>; false when the client is over its rate and must be closed with <see cref="RateLimited"/>.</summary>
    public bool OnReceived(int bytes)
    {
        if (_limiter is not null)
        {
            using var lease = _limiter.AttemptAcquire();
            if (!lease.IsAcquired)
            {
                return false;
            }
        }

        RelayMetrics.PatchesReceived.Add(1);
        RelayMetrics.BytesReceived.Add(bytes);
        return true;
    }

    /// <summary>A frame of <paramref name="bytes"/> written to the client.</summary>
    public static void OnSent(int bytes)
    {
        RelayMetrics.PatchesDelivered.Add(1);
        RelayMetrics.BytesSent.Add(bytes);
    }

    /// <summary>The session ended with <paramref name="request"/>; a fault is logged as a warning with its reason.</summary>
    public void OnClosed(string connectionId, CloseRequest request)
    {
        RelayMetrics.RecordDisconnect(request);
        if (request.Code is RelayCloseCodes.InvalidPayload or RelayCloseCodes.PolicyViolation or RelayCloseCodes.MessageTooBig or RelayCloseCodes.InternalError)
        {
            LogFaultClose(_logger, connectionId, request.Code, request.Reason);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            RelayMetrics.Connections.Add(-1);
            _limiter?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId} closed with {CloseCode}: {CloseReason}")]
    private static partial void LogFaultClose(ILogger logger, string connectionId, int closeCode, string closeReason);
}
