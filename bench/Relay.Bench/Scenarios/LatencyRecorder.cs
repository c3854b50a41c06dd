using HdrHistogram;

namespace Relay.Bench.Scenarios;

/// <summary>
/// Send-to-receive times in microseconds, recorded only while the measuring window is open. Receiver threads
/// record into an HdrHistogram <see cref="Recorder"/>; closing the window takes its interval histogram, which no
/// thread writes any more, so the figures are read from a histogram that cannot change under them (a receiver that
/// read the window as open just before it closed records into the next interval, which nobody reads).
/// </summary>
public sealed class LatencyRecorder
{
    // One minute at three significant digits: plenty for a loopback relay; concurrent, for many receiver threads.
    private readonly Recorder _recorder = new(1, 60_000_000, 3, (id, lowest, highest, digits) => new LongConcurrentHistogram(id, lowest, highest, digits));
    private volatile bool _recording;
    private HistogramBase? _window;

    /// <summary>Opens or closes the window; closing it fixes the figures below.</summary>
    public bool Recording
    {
        get => _recording;
        set
        {
            _recording = value;
            if (!value)
            {
                _window = _recorder.GetIntervalHistogram();
            }
        }
    }

    /// <summary>Records the time since <paramref name="timestamp"/> if the window is open.</summary>
    public void Record(long timestamp)
    {
        if (_recording)
        {
            _recorder.RecordValue(Math.Clamp(Patch.MicrosecondsSince(timestamp), 1, 60_000_000));
        }
    }

    /// <summary>Values recorded in the closed window.</summary>
    public long Count => _window?.TotalCount ?? 0;

    /// <summary>The value at <paramref name="percentile"/> in milliseconds, of the closed window.</summary>
    public double Milliseconds(double percentile) => Count == 0 ? 0 : _window!.GetValueAtPercentile(percentile) / 1000.0;

    /// <summary>The largest value in milliseconds, of the closed window.</summary>
    public double MaxMilliseconds => Count == 0 ? 0 : _window!.GetMaxValue() / 1000.0;
}
