using HdrHistogram;

namespace Relay.Bench.Scenarios;

/// <summary>Send-to-receive times in microseconds, recorded only while the measuring window is open.</summary>
public sealed class LatencyRecorder
{
    // One minute at three significant digits: plenty for a loopback relay, and safe from many receiver threads.
    private readonly LongConcurrentHistogram _histogram = new(1, 60_000_000, 3);
    private volatile bool _recording;

    /// <summary>Opens or closes the window.</summary>
    public bool Recording
    {
        get => _recording;
        set => _recording = value;
    }

    /// <summary>Records the time since <paramref name="timestamp"/> if the window is open.</summary>
    public void Record(long timestamp)
    {
        if (_recording)
        {
            _histogram.RecordValue(Math.Clamp(Patch.MicrosecondsSince(timestamp), 1, 60_000_000));
        }
    }

    /// <summary>Recorded values.</summary>
    public long Count => _histogram.TotalCount;

    /// <summary>The value at <paramref name="percentile"/> in milliseconds.</summary>
    public double Milliseconds(double percentile) => _histogram.TotalCount == 0 ? 0 : _histogram.GetValueAtPercentile(percentile) / 1000.0;

    /// <summary>The largest value in milliseconds.</summary>
    public double MaxMilliseconds => _histogram.TotalCount == 0 ? 0 : _histogram.GetMaxValue() / 1000.0;
}
