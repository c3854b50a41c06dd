using System.Collections.Concurrent;
using System.Diagnostics;
using Relay.Testing;

namespace Relay.Cluster.Tests;

/// <summary>
/// One client sending <c>{tag}:{i}</c> at a steady rate while another client, on another node, collects what
/// arrives: the load under which the fault specs take nodes and the database away. Bounded in count and time.
/// </summary>
public sealed class SteadyTraffic
{
    private readonly CancellationTokenSource _stopSending;
    private readonly CancellationTokenSource _stopCollecting = new();
    private readonly Task<IReadOnlyList<string>> _sending;
    private readonly Task _collecting;

    private SteadyTraffic(RelayClient sender, RelayClient watcher, string tag, TimeSpan interval, int count, TimeSpan limit)
    {
        Tag = tag;
        _stopSending = new CancellationTokenSource(limit);
        _collecting = Probe.CollectAsync(watcher, Arrivals, Clock, _stopCollecting.Token);
        _sending = Probe.SendSteadilyAsync(sender, tag, interval, count, _stopSending.Token, SentAt, Clock);
    }

    /// <summary>The sender's tag.</summary>
    public string Tag { get; }

    /// <summary>Started with the traffic; every moment below is read from it.</summary>
    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    /// <summary>When each patch went out.</summary>
    public ConcurrentDictionary<string, TimeSpan> SentAt { get; } = new();

    /// <summary>What the watcher received so far.</summary>
    public ConcurrentQueue<Arrival> Arrivals { get; } = new();

    /// <summary>How many patches have gone out so far.</summary>
    public int SentCount => SentAt.Count;

    /// <summary>
    /// Starts sending <paramref name="count"/> patches, one per <paramref name="interval"/> on average, from
    /// <paramref name="sender"/>, and collecting on <paramref name="watcher"/>. Sending ends after
    /// <paramref name="limit"/> at the latest, or when the server closes the sender's socket.
    /// </summary>
    public static SteadyTraffic Start(RelayClient sender, RelayClient watcher, string tag, TimeSpan interval, int count, TimeSpan limit) =>
        new(sender, watcher, tag, interval, count, limit);

    /// <summary>
    /// Waits until the watcher has received <paramref name="count"/> of the sender's patches: the traffic flows end to
    /// end, through the sequencer and across nodes. False when <paramref name="timeout"/> passed first.
    /// </summary>
    public Task<bool> FlowsAsync(int count, TimeSpan timeout) => Probe.EventuallyAsync(() => Received().Count >= count, timeout);

    /// <summary>Whether a patch sent after <paramref name="moment"/> has arrived.</summary>
    public bool ArrivedSentAfter(TimeSpan moment) => FirstArrivalSentAfter(moment) is not null;

    /// <summary>The first arrival of a patch sent after <paramref name="moment"/>, if any.</summary>
    public Arrival? FirstArrivalSentAfter(TimeSpan moment) =>
        Arrivals.FirstOrDefault(arrival => SentAt.TryGetValue(arrival.Text, out var at) && at > moment);

    /// <summary>The longest time between two arrivals after <paramref name="moment"/>.</summary>
    public TimeSpan LongestSilenceAfter(TimeSpan moment)
    {
        var times = Arrivals.Select(arrival => arrival.At).Where(at => at >= moment).ToList();
        return times.Zip(times.Skip(1), (earlier, later) => later - earlier).DefaultIfEmpty().Max();
    }

    /// <summary>
    /// Waits for the sender to finish, then until the watcher has as many of the sender's patches as were sent
    /// (at most <paramref name="timeout"/>) and half a second more for anything doubled; returns what was sent
    /// and the sender's patches the watcher received, in arrival order.
    /// </summary>
    public async Task<(IReadOnlyList<string> Sent, IReadOnlyList<string> Received)> FinishAsync(TimeSpan timeout)
    {
        var sent = await _sending;
        await Probe.EventuallyAsync(() => Received().Count >= sent.Count, timeout);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        await _stopCollecting.CancelAsync();
        await _collecting;
        _stopSending.Dispose();
        _stopCollecting.Dispose();
        return (sent, Received());
    }

    /// <summary>
    /// Waits until nothing has arrived for <paramref name="quiet"/>, at most <paramref name="timeout"/>: the
    /// last resends of a closed connection are in once its unconfirmed frames stopped coming.
    /// </summary>
    public async Task<bool> QuietAsync(TimeSpan quiet, TimeSpan timeout) =>
        await Probe.EventuallyAsync(
            () => Clock.Elapsed - Arrivals.Select(arrival => arrival.At).DefaultIfEmpty().Max() >= quiet,
            timeout);

    private List<string> Received() => Probe.Tagged(Arrivals.Select(arrival => arrival.Text), Tag);
}
