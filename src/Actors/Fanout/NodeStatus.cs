#nullable enable
namespace Relay.Actors.Fanout;

/// <summary>
/// What this node knows of the relay, written by the <see cref="PatchHubActor"/> and read by the gateway
/// (readiness, status). A heartbeat that reached the hub through the topic proves that the node is a
/// cluster member, is subscribed where the sequencer publishes, and that the sequencer is alive.
/// </summary>
public sealed class NodeStatus
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastHeartbeatTicks;
    private long _lastSequence;
    private int _subscribed;
    private int _connectionCount;

    /// <summary>Whether the hub's topic subscription is acknowledged.</summary>
    public bool Subscribed => Volatile.Read(ref _subscribed) == 1;

    /// <summary>The highest sequence number this node has seen.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>Connections registered with the hub.</summary>
    public int ConnectionCount
    {
        get => Volatile.Read(ref _connectionCount);
        set => Volatile.Write(ref _connectionCount, value);
    }

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
