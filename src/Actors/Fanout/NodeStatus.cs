#nullable enable
using System.Collections.Concurrent;
using Relay.Actors.Documents;
using Relay.Actors.Journal;

namespace Relay.Actors.Fanout;

/// <summary>
/// What this node knows of the relay, read by the gateway (readiness, status) and the metrics. The default
/// document's <see cref="DocumentHubActor"/> writes the heartbeat, subscription and sequence fields: a
/// heartbeat that reached it through the topic proves that the node is a cluster member, is subscribed where
/// the sequencer publishes, and that the sequencer is alive. Sequencers record where they run.
/// </summary>
public sealed class NodeStatus
{
    private readonly ConcurrentDictionary<DocumentName, byte> _sequencers = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _warmedUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastHeartbeatTicks;
    private long _lastSequence;
    private int _subscribed;

    /// <summary>The holes this node's readers found in the journal.</summary>
    internal JournalHoles Holes { get; } = new();

    /// <summary>Whether the hub's topic subscription is acknowledged.</summary>
    public bool Subscribed => Volatile.Read(ref _subscribed) == 1;

    /// <summary>The highest sequence number this node has seen.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>The documents whose sequencer runs on this node.</summary>
    public IReadOnlyCollection<DocumentName> Sequencers => _sequencers.Keys.ToList();

    /// <summary>How many sequencers run on this node.</summary>
    public int SequencerCount => _sequencers.Count;

    /// <summary>Records that the sequencer of <paramref name="document"/> started on this node.</summary>
    public void SequencerStarted(DocumentName document) => _sequencers[document] = 0;

    /// <summary>Records that the sequencer of <paramref name="document"/> stopped on this node.</summary>
    public void SequencerStopped(DocumentName document) => _sequencers.TryRemove(document, out _);

    /// <summary>How long ago the last heartbeat arrived; null if none ever did.</summary>
    public TimeSpan? SinceLastHeartbeat
    {
        get
        {
            var ticks = Volatile.Read(ref _lastHeartbeatTicks);
            return ticks == 0 ? null : TimeSpan.FromMilliseconds(Environment.TickCount64 - ticks);
        }
    }

    /// <summary>Completes when the node first became able to relay.</summary>
    public Task FirstReady => _ready.Task;

    /// <summary>Completes once the start's journal warm-up is over, whether it succeeded or not: the start is done.</summary>
    public Task WarmedUp => _warmedUp.Task;

    /// <summary>Records the end of the journal warm-up.</summary>
    public void MarkWarmedUp() => _warmedUp.TrySetResult();

    /// <summary>Records the acknowledged subscription.</summary>
    public void MarkSubscribed() => Volatile.Write(ref _subscribed, 1);

    /// <summary>Records a heartbeat received through the topic.</summary>
    public void ObserveHeartbeat(long lastSequence)
    {
        Volatile.Write(ref _lastHeartbeatTicks, Math.Max(1, Environment.TickCount64));
        ObserveSequence(lastSequence);
        if (Subscribed)
        {
            _ready.TrySetResult();
        }
    }

    /// <summary>Records a sequence number seen on the topic.</summary>
    public void ObserveSequence(long sequence)
    {
        long current;
        while ((current = Volatile.Read(ref _lastSequence)) < sequence &&
               Interlocked.CompareExchange(ref _lastSequence, sequence, current) != current)
        {
        }
    }
}
