using System.Threading.RateLimiting;
using Relay.Actors.Connections;
using Relay.Actors.Diagnostics;

namespace Relay.Gateway.Operations;

/// <summary>
/// What a socket session reports and what limits it, in one place so the session's loops carry one call each:
/// the connection gauge (from creation to <see cref="Dispose"/>), frame and byte counters, the per-connection
/// message and byte rates (<c>Relay:MaxMessagesPerSecond</c>, <c>Relay:MaxBytesPerSecond</c>) and the log line
/// of a faulted close.
/// </summary>
public sealed partial class ConnectionMonitor : IDisposable
{
    /// <summary>How a client over its message rate is closed.</summary>
    public static readonly CloseRequest RateLimited = new(RelayCloseCodes.PolicyViolation, DisconnectReason.RateLimitedText);

    /// <summary>How a client over its byte rate is closed.</summary>
    public static readonly CloseRequest ByteRateLimited = new(RelayCloseCodes.PolicyViolation, DisconnectReason.ByteRateLimitedText);

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

        RelayMetrics.Connections.Add(1);
    }

    /// <summary>
    /// <paramref name="bytes"/> of a client message arrived, which may still be incomplete; false when the client
    /// is over its byte rate and must be closed with <see cref="ByteRateLimited"/>.
    /// </summary>
    public bool OnArrived(int bytes)
    {
        RelayMetrics.BytesReceived.Add(bytes);
        return _bytes is null || _bytes.TryTake(bytes);
    }

    /// <summary>A complete client message; false when the client is over its message rate and must be closed with <see cref="RateLimited"/>.</summary>
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

        RelayMetrics.PatchesReceived.Add(1);
        return true;
    }

    /// <summary>A frame of <paramref name="bytes"/> written to the client.</summary>
    public static void OnSent(int bytes)
    {
        RelayMetrics.PatchesDelivered.Add(1);
        RelayMetrics.BytesSent.Add(bytes);
    }

    /// <summary>
    /// The session ended with <paramref name="request"/>; a fault is logged as a warning with its reason. A close
    /// the client started (<paramref name="byClient"/>) is counted as such, whatever code and reason it chose: a
    /// client closing with 1008 "slow consumer" was not closed by the server for reading slowly.
    /// </summary>
    public void OnClosed(string connectionId, CloseRequest request, bool byClient)
    {
        if (byClient)
        {
            RelayMetrics.RecordDisconnect(DisconnectReason.ClientClosed);
            return;
        }

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
