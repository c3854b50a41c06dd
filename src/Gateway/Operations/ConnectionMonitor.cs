using System.Threading.RateLimiting;
using Relay.Gateway.Sockets;

namespace Relay.Gateway.Operations;

/// <summary>
/// What a socket session reports and what limits it, in one place so the session's loops carry one call each:
/// the connection gauge (from creation to <see cref="Dispose"/>), frame and byte counters, the per-connection
/// message and byte rates (<c>Relay:MaxMessagesPerSecond</c>, <c>Relay:MaxBytesPerSecond</c>) and the log line
/// of a faulted close.
/// </summary>
public sealed partial class ConnectionMonitor : IDisposable
{
    private readonly TokenBucketRateLimiter? _limiter;
    private readonly ByteBucket? _bytes;
    private readonly ILogger _logger;
    private int _disposed;

    /// <summary>Counts a new open connection; a rate of 0 means no limit.</summary>
    public ConnectionMonitor(int maxMessagesPerSecond, int maxBytesPerSecond, ILogger logger)
    {
        _logger = logger;
        _bytes = maxBytesPerSecond > 0 ? new ByteBucket(maxBytesPerSecond) : null;
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

        SocketMetrics.Connections.Add(1);
    }

    /// <summary>
    /// <paramref name="bytes"/> of a client message arrived, which may still be incomplete; false when the client
    /// is over its byte rate and must be closed with <see cref="CloseCodes.ByteRateLimited"/>.
    /// </summary>
    public bool OnArrived(int bytes)
    {
        SocketMetrics.BytesReceived.Add(bytes);
        return _bytes is null || _bytes.TryTake(bytes);
    }

    /// <summary>A complete client message; false when the client is over its message rate and must be closed with <see cref="CloseCodes.RateLimited"/>.</summary>
    public bool OnReceived()
    {
        if (_limiter is not null)
        {
            using var lease = _limiter.AttemptAcquire();
            if (!lease.IsAcquired)
            {
                return false;
            }
        }

        SocketMetrics.PatchesReceived.Add(1);
        return true;
    }

    /// <summary>A frame of <paramref name="bytes"/> written to the client.</summary>
    public static void OnSent(int bytes)
    {
        SocketMetrics.PatchesDelivered.Add(1);
        SocketMetrics.BytesSent.Add(bytes);
    }

    /// <summary>The session ended with <paramref name="close"/>: counted by what it counts as; a fault is logged as a warning with its reason.</summary>
    public void OnClosed(string connectionId, CloseFrame close)
    {
        SocketMetrics.RecordDisconnect(close.CountsAs);
        if (close.IsFault)
        {
            LogFaultClose(_logger, connectionId, close.Code, close.Reason);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            SocketMetrics.Connections.Add(-1);
            _limiter?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Connection {ConnectionId} closed with {CloseCode}: {CloseReason}")]
    private static partial void LogFaultClose(ILogger logger, string connectionId, int closeCode, string closeReason);
}
