namespace Relay.Bench.Scenarios;

/// <summary>Opening and closing many bench clients, bounded in parallelism and time.</summary>
public static class Clients
{
    /// <summary>Connects one client per sink, <paramref name="concurrency"/> at a time.</summary>
    public static async Task<IBenchClient[]> ConnectAllAsync(IClientConnector connector, IReadOnlyList<IMessageSink> sinks, int concurrency, TimeSpan timeout)
    {
        var clients = new IBenchClient?[sinks.Count];
        var next = -1;
        using var cts = new CancellationTokenSource(timeout);
        async Task WorkAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < sinks.Count && !cts.IsCancellationRequested)
            {
                clients[i] = await connector.ConnectAsync(sinks[i], TimeSpan.FromSeconds(30));
            }
        }

        try
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(concurrency, Math.Max(1, sinks.Count))).Select(_ => Task.Run(WorkAsync)));
        }
        catch
        {
            await DisposeAllAsync(clients.OfType<IBenchClient>());
            throw;
        }

        if (clients.Any(c => c is null))
        {
            await DisposeAllAsync(clients.OfType<IBenchClient>());
            throw new TimeoutException($"connected {clients.Count(c => c is not null)} of {sinks.Count} within {timeout.TotalSeconds:0} s");
        }

        return clients!;
    }

    /// <summary>Aborts every client.</summary>
    public static async Task DisposeAllAsync(IEnumerable<IBenchClient> clients)
    {
        foreach (var chunk in clients.Chunk(500))
        {
            await Task.WhenAll(chunk.Select(c => c.DisposeAsync().AsTask()));
        }
    }

    /// <summary>The first client whose socket ended, as a failure message; null while all are open.</summary>
    public static string? FirstEnded(IEnumerable<IBenchClient> clients, string role)
    {
        foreach (var client in clients)
        {
            if (client.Ended is { } why)
            {
                return $"a {role} socket ended: {why}";
            }
        }

        return null;
    }

    /// <summary>Waits until no client received anything for <paramref name="quiet"/>: what a server sends on connect (its history) is drained before measuring.</summary>
    public static Task<string?> DrainAsync(IReadOnlyList<IBenchClient> clients, TimeSpan quiet, TimeSpan max)
    {
        long Total() => clients.Sum(c => c.Received);
        var last = -1L;
        var since = System.Diagnostics.Stopwatch.StartNew();
        return Waiting.UntilAsync(
            () =>
            {
                var now = Total();
                if (now != last)
                {
                    last = now;
                    since.Restart();
                }

                return since.Elapsed >= quiet;
            },
            () => 0,
            max,
            max + quiet,
            () => null);
    }
}
