namespace Relay.Gateway.Operations;

/// <summary>
/// More thread-pool workers while the node starts, the default again once it has warmed up. A start compiles and
/// blocks a lot at once (the journal's tables and first queries, the serializer, the stream stages); on a machine
/// of two cores the pool's minimum of two workers then left Akka's cluster heartbeat tick waiting for the pool to
/// grow, and a fresh node warned "Scheduled sending of heartbeat was delayed" in 3 of 4 starts (0 of 4 with 8
/// workers). Steady traffic keeps the pool's own defaults: a larger minimum measured no better there.
/// </summary>
public static class StartupThreads
{
    /// <summary>The workers the pool keeps ready during the start.</summary>
    public const int MinWorkersWhileStarting = 8;

    /// <summary>Raises the pool's minimum now and puts it back once <paramref name="started"/> completes.</summary>
    public static void HoldUntil(Task started)
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        if (workers >= MinWorkersWhileStarting || !ThreadPool.SetMinThreads(MinWorkersWhileStarting, io))
        {
            return;
        }

        started.ContinueWith(done =>
        {
            ThreadPool.GetMinThreads(out _, out var currentIo);
            ThreadPool.SetMinThreads(workers, currentIo);
        }, TaskScheduler.Default);
    }
}
