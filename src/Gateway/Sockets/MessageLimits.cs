using System.Diagnostics;
using Relay.Gateway.Operations;

namespace Relay.Gateway.Sockets;

/// <summary>
/// Bounds one client message in time and in frames, for a socket's single reader: from its first frame to its last
/// it may take <c>Relay:MessageTimeoutSeconds</c> and span <c>Relay:MaxFragmentsPerMessage</c> frames. Without
/// them a client could hold a partly received message (up to <c>Relay:MaxMessageBytes</c> of buffer) for ever,
/// or keep the reader busy with empty continuation frames that never end the message.
/// </summary>
/// <remarks>
/// The deadline is a timer rather than a cancellation token on the receive: cancelling a WebSocket receive aborts
/// the socket, and the client would see a broken connection instead of a close code. One timer per connection,
/// created at its first message and re-armed per message.
/// </remarks>
public sealed class MessageLimits : IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly int _maxFragments;
    private readonly Action<CloseFrame> _close;
    private Timer? _timer;
    private long _startedAt;
    private int _fragments;
    private volatile bool _inMessage;

    /// <summary>Limits from <paramref name="options"/>; <paramref name="close"/> is called (on a timer thread) when a message outlives its deadline.</summary>
    public MessageLimits(GatewayOptions options, Action<CloseFrame> close)
    {
        _timeout = TimeSpan.FromSeconds(options.MessageTimeoutSeconds);
        _maxFragments = options.MaxFragmentsPerMessage;
        _close = close;
        TooManyFragments = CloseCodes.TooManyFragments(_maxFragments);
    }

    /// <summary>How a message of too many fragments is closed.</summary>
    public CloseFrame TooManyFragments { get; }

    /// <summary>The first frame of a message arrived: its deadline starts now.</summary>
    public void Begin()
    {
        _fragments = 0;
        Volatile.Write(ref _startedAt, Stopwatch.GetTimestamp());
        _inMessage = true;
        _timer ??= new Timer(static state => ((MessageLimits)state!).Expire(), this, Timeout.Infinite, Timeout.Infinite);
        _timer.Change(_timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Counts a frame of the current message that did not end it; false when, with its last frame still to come, the message would have more frames than allowed.</summary>
    public bool OnFragment() => ++_fragments < _maxFragments;

    /// <summary>The current message is complete, or the reader gave up on it.</summary>
    public void End()
    {
        _inMessage = false;
        _timer?.Change(Timeout.Infinite, Timeout.Infinite);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _inMessage = false;
        _timer?.Dispose();
    }

    private void Expire()
    {
        if (!_inMessage)
        {
            return;
        }

        // A tick a hair early, or one for a message that ended while a new one began, waits for the rest.
        var left = _timeout - Stopwatch.GetElapsedTime(Volatile.Read(ref _startedAt));
        if (left > TimeSpan.Zero)
        {
            try
            {
                _timer?.Change(left, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The session ended meanwhile.
            }

            return;
        }

        _close(CloseCodes.MessageTimedOut);
    }
}
