#nullable enable
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.Connections;

/// <summary>
/// A connection's inbound protocol, without an actor: it numbers the client's frames, keeps them until the
/// sequencer confirms them, says when to resend them (all of them, in order, since the sequencer takes a
/// connection's frames only in order), how many of the reader's credits a confirmation gives back (each frame
/// keeps the credits it was submitted with), and
/// when the sequencer has been silent for so long that the client should be told to try again later.
/// Times are milliseconds of a monotonic clock, passed in.
/// </summary>
internal sealed class InboundState
{
    private readonly DocumentName _document;
    private readonly string _connectionId;
    private readonly long _resendAfterMs;
    private readonly long _unavailableAfterMs;
    private Queue<Waiting>? _unconfirmed;
    private long _nextFrameNo = 1;
    private bool _acceptedAny;
    private long _lastSentMs;
    private long _lastProgressMs;
    private long _lastAcceptedMs;

    // Frames up to this one gave their credits back early (the sequencer answered "behind"); a confirmation does not
    // give them back again.
    private long _releasedThrough;

    // The last frame journaled under the client, while the client's frames are behind it; 0 when none are.
    private long _behindUntil;
    private long _behindSinceMs;

    /// <summary>Creates the state of one connection.</summary>
    /// <param name="document">The document the frames are appended to.</param>
    /// <param name="connectionId">The connection's id, unique in the cluster.</param>
    /// <param name="resendAfter">Frames unconfirmed this long are sent again.</param>
    /// <param name="unavailableAfter">No confirmation for this long while frames wait: the sequencer is unavailable.</param>
    public InboundState(DocumentName document, string connectionId, TimeSpan resendAfter, TimeSpan unavailableAfter)
    {
        _document = document;
        _connectionId = connectionId;
        _resendAfterMs = (long)resendAfter.TotalMilliseconds;
        _unavailableAfterMs = (long)unavailableAfter.TotalMilliseconds;
    }

    /// <summary>Frames sent to the sequencer and not confirmed yet.</summary>
    public int Unconfirmed => _unconfirmed?.Count ?? 0;

    /// <summary>
    /// Numbers the client's next frame and returns the append to send. <paramref name="startsWaiting"/> is true
    /// when nothing was waiting before it: the caller starts its resend timer (idle connections run none).
    /// <paramref name="credits"/>: the reader's credits the frame holds, given back when it is confirmed.
    /// </summary>
    public AppendPatch Accept(ReadOnlyMemory<byte> payload, bool isText, int credits, long nowMs, out bool startsWaiting) =>
        Accept(payload, isText, _nextFrameNo, credits, nowMs, out startsWaiting)!;

    /// <summary>
    /// Takes the client's frame numbered by the client itself (<c>relay.v1</c> patch ids): the first any positive
    /// number, each later one one more than the previous. Returns null for a number out of that order.
    /// </summary>
    public AppendPatch? Accept(ReadOnlyMemory<byte> payload, bool isText, long frameNo, int credits, long nowMs, out bool startsWaiting)
    {
        startsWaiting = false;
        if (frameNo < 1 || (_acceptedAny && frameNo != _nextFrameNo))
        {
            return null;
        }

        _acceptedAny = true;
        _nextFrameNo = frameNo + 1;
        _lastAcceptedMs = nowMs;
        _unconfirmed ??= new Queue<Waiting>();
        startsWaiting = _unconfirmed.Count == 0;
        var append = new AppendPatch(
            _document,
            _connectionId,
            frameNo,
            startsWaiting ? frameNo : _unconfirmed.Peek().Append.FrameNo,
            payload,
            isText);
        if (startsWaiting)
        {
            _lastSentMs = nowMs;
            _lastProgressMs = nowMs;
        }

        _unconfirmed.Enqueue(new Waiting(append, credits));
        return append;
    }

    /// <summary>
    /// Takes the sequencer's confirmation of every frame up to <paramref name="frameNo"/>; returns the credits
    /// those frames held (0 for a repeated confirmation).
    /// </summary>
    public int Confirm(long frameNo, long nowMs)
    {
        var released = 0;
        var confirmedAny = false;
        while (_unconfirmed is { Count: > 0 } && _unconfirmed.Peek().Append.FrameNo <= frameNo)
        {
            var confirmed = _unconfirmed.Dequeue();
            released += confirmed.Append.FrameNo > _releasedThrough ? confirmed.Credits : 0;
            confirmedAny = true;
        }

        if (frameNo >= _behindUntil)
        {
            _behindUntil = 0;
        }

        if (confirmedAny)
        {
            _lastSentMs = nowMs;
            _lastProgressMs = nowMs;
        }

        return released;
    }

    /// <summary>
    /// The sequencer answered that frame <paramref name="frameNo"/> is below <paramref name="journaledFrame"/>, the last
    /// one journaled under the client: the frames up to it wait (unjournaled, unconfirmed) for the client's run to reach
    /// that one, but give their credits back now, so that a long resend is read on. Returns those credits.
    /// </summary>
    public int Behind(long frameNo, long journaledFrame, long nowMs)
    {
        if (_behindUntil == 0)
        {
            _behindSinceMs = nowMs;
        }

        _behindUntil = Math.Max(_behindUntil, journaledFrame);
        var released = 0;
        foreach (var waiting in _unconfirmed ?? [])
        {
            var no = waiting.Append.FrameNo;
            if (no > frameNo)
            {
                break;
            }

            if (no > _releasedThrough)
            {
                released += waiting.Credits;
            }
        }

        _releasedThrough = Math.Max(_releasedThrough, frameNo);
        return released;
    }

    /// <summary>
    /// Whether the client's frames stopped short of the last one journaled under it: they were behind it, and for
    /// <c>resendAfter</c> no frame came that gets there. Then they were no resend: the client reused its name.
    /// </summary>
    public bool StoppedBehind(long nowMs) =>
        _behindUntil >= _nextFrameNo && nowMs - Math.Max(_lastAcceptedMs, _behindSinceMs) >= _resendAfterMs;

    /// <summary>
    /// Whether the journaled patch numbered <paramref name="frameNo"/> under this client's name is not the frame this
    /// connection sent under that number and still waits on: another writer uses the name. False for a frame it did
    /// not send or no longer waits on (confirmed: the sequencer compared it).
    /// </summary>
    public bool Contradicts(long frameNo, ReadOnlySpan<byte> payload, bool isText)
    {
        foreach (var waiting in _unconfirmed ?? [])
        {
            if (waiting.Append.FrameNo == frameNo)
            {
                return waiting.Append.IsText != isText || !waiting.Append.Payload.Span.SequenceEqual(payload);
            }

            if (waiting.Append.FrameNo > frameNo)
            {
                break;
            }
        }

        return false;
    }

    /// <summary>Whether the sequencer has confirmed nothing for the unavailable limit while frames wait.</summary>
    public bool IsUnavailable(long nowMs) => Unconfirmed > 0 && _behindUntil == 0 && nowMs - _lastProgressMs >= _unavailableAfterMs;

    /// <summary>
    /// The appends to send again now, oldest first, each naming the oldest as the first unconfirmed frame; empty
    /// when nothing waits or the last send is recent.
    /// </summary>
    public IReadOnlyList<AppendPatch> DueForResend(long nowMs)
    {
        if (_unconfirmed is not { Count: > 0 } || nowMs - _lastSentMs < _resendAfterMs)
        {
            return [];
        }

        _lastSentMs = nowMs;
        var first = _unconfirmed.Peek().Append.FrameNo;
        return _unconfirmed.Select(waiting => waiting.Append with { FirstUnconfirmed = first }).ToList();
    }

    private readonly record struct Waiting(AppendPatch Append, int Credits);
}
