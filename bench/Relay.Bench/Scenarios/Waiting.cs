using System.Diagnostics;

namespace Relay.Bench.Scenarios;

/// <summary>Bounded waiting: every wait in the bench ends by success, a stall, a timeout or a failure.</summary>
public static class Waiting
{
    /// <summary>Polls until <paramref name="done"/>; returns null then, or why it gave up.</summary>
    /// <param name="done">The goal.</param>
    /// <param name="progress">A counter that must keep moving; unchanged for <paramref name="stall"/> is a stall.</param>
    /// <param name="max">The longest wait.</param>
    /// <param name="stall">How long progress may stand still.</param>
    /// <param name="failure">Something that went wrong meanwhile (a socket closed, the server died), or null.</param>
    public static async Task<string?> UntilAsync(Func<bool> done, Func<long> progress, TimeSpan max, TimeSpan stall, Func<string?> failure)
    {
        var total = Stopwatch.StartNew();
        var still = Stopwatch.StartNew();
        var last = progress();
        while (!done())
        {
            if (failure() is { } failed)
            {
                return failed;
            }

            var now = progress();
            if (now != last)
            {
                last = now;
                still.Restart();
            }
            else if (still.Elapsed > stall)
            {
                return $"stalled: no progress for {stall.TotalSeconds:0} s at {now}";
            }

            if (total.Elapsed > max)
            {
                return $"timed out after {max.TotalSeconds:0} s at {now}";
            }

            await Task.Delay(20);
        }

        return null;
    }

    /// <summary>Waits <paramref name="duration"/>, watching for a stall or failure the same way.</summary>
    public static async Task<string?> ForAsync(TimeSpan duration, Func<long> progress, TimeSpan stall, Func<string?> failure)
    {
        var end = Stopwatch.StartNew();
        var error = await UntilAsync(() => end.Elapsed >= duration, progress, duration + stall, stall, failure);
        return error;
    }

    /// <summary>
    /// A scenario's warm-up: <paramref name="duration"/> of traffic, then, on a loaded machine, on until
    /// <paramref name="progress"/> has moved at all (bounded by <paramref name="stall"/>), so that a short window does
    /// not measure a start that has not happened. Returns null, or why it gave up.
    /// </summary>
    public static async Task<string?> WarmUpAsync(TimeSpan duration, Func<long> progress, TimeSpan stall, Func<string?> failure) =>
        await ForAsync(duration, progress, stall, failure)
        ?? await UntilAsync(() => progress() > 0, progress, stall, stall, failure);
}
