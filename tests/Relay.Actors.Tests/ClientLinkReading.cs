#nullable enable
using Relay.Actors.Connections;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Reads a <see cref="ClientLink"/> the way the Gateway's single writer does.</summary>
internal static class ClientLinkReading
{
    /// <summary>Waits for the next frame and reports it sent; fails if the link closes or nothing comes within <paramref name="timeout"/>.</summary>
    public static async Task<OutboundFrame> ReadSentAsync(this ClientLink link, TimeSpan timeout)
    {
        if (!await link.WaitToReadAsync().AsTask().WaitAsync(timeout) || !link.TryRead(out var frame))
        {
            throw new InvalidOperationException("the link was closed before a frame came");
        }

        link.OnSent(frame);
        return frame;
    }

    /// <summary>As <see cref="ReadSentAsync(ClientLink, TimeSpan)"/>, for a frame that must be a <typeparamref name="T"/>.</summary>
    public static async Task<T> ReadSentAsync<T>(this ClientLink link, TimeSpan timeout)
        where T : OutboundFrame =>
        Assert.IsType<T>(await link.ReadSentAsync(timeout));

    /// <summary>Whether a frame becomes readable within <paramref name="quiet"/>.</summary>
    public static async Task<bool> BecomesReadableWithinAsync(this ClientLink link, TimeSpan quiet)
    {
        var readable = link.WaitToReadAsync().AsTask();
        var first = await Task.WhenAny(readable, Task.Delay(quiet));
        return first == readable && await readable;
    }

    /// <summary>Takes everything queued right now, without waiting, and returns the frames' queued bytes.</summary>
    public static List<int> DrainQueued(this ClientLink link)
    {
        var lengths = new List<int>();
        while (link.TryRead(out var frame))
        {
            lengths.Add(frame.QueuedBytes);
        }

        return lengths;
    }
}
