using System.Diagnostics;

namespace Relay.Gateway.Operations;

/// <summary>
/// A token bucket of bytes for one connection's reader: it refills continuously at the rate and holds at most one
/// second's worth, so a client may burst up to a second's bytes at once. Not thread-safe; one reader uses it.
/// </summary>
/// <remarks>
/// <see cref="System.Threading.RateLimiting.TokenBucketRateLimiter"/> refuses a request larger than its bucket and
/// runs a timer per instance; a receive can return up to a whole message, and the reader needs neither.
/// </remarks>
public sealed class ByteBucket
{
    private readonly double _perSecond;
    private double _tokens;
    private long _refilledAt;

    /// <summary>A full bucket of <paramref name="bytesPerSecond"/>.</summary>
    public ByteBucket(int bytesPerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerSecond);
        _perSecond = bytesPerSecond;
        _tokens = bytesPerSecond;
        _refilledAt = Stopwatch.GetTimestamp();
    }

    /// <summary>Takes <paramref name="bytes"/>; false when the bucket does not hold that many (nothing is taken then).</summary>
    public bool TryTake(int bytes)
    {
        var now = Stopwatch.GetTimestamp();
        _tokens = Math.Min(_perSecond, _tokens + (Stopwatch.GetElapsedTime(_refilledAt, now).TotalSeconds * _perSecond));
        _refilledAt = now;
        if (_tokens < bytes)
        {
            return false;
        }

        _tokens -= bytes;
        return true;
    }
}
