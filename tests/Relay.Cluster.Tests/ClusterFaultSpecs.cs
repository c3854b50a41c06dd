using System.Collections.Concurrent;
using System.Diagnostics;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Nodes leaving and dying while a client on another node keeps sending (20 patches/s). Every test starts
/// its own three-node cluster on its own database, because it takes nodes away.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterFaultSpecs : IAsyncLifetime
{
    private static readonly TimeSpan SendInterval = TimeSpan.FromMilliseconds(50);
    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;
    private RelayCluster _cluster = null!;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public ClusterFaultSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        _cluster = new RelayCluster(await _postgres.CreateDatabaseAsync("relay_faults"));
        await _cluster.StartAsync();
    }

    /// <inheritdoc />
    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Should_keep_relaying_while_the_sequencer_node_leaves_gracefully_and_rejoins()
    {
        var leaving = Assert.Single(_cluster.HistoryHosts);
        var others = _cluster.Nodes.Where(node => node != leaving).ToList();
        var clock = Stopwatch.StartNew();
        await using var sender = await RelayClient.ConnectAsync(others[0].WebSocketUrl);
        await using var receiver = await RelayClient.ConnectAsync(others[1].WebSocketUrl);
        await using var onLeaving = await RelayClient.ConnectAsync(leaving.WebSocketUrl);
        var sentAt = new ConcurrentDictionary<string, TimeSpan>();
        var arrivals = new ConcurrentQueue<Arrival>();
        using var stopCollecting = new CancellationTokenSource();
        using var stopSending = new CancellationTokenSource();
        var collecting = Probe.CollectAsync(receiver, arrivals, clock, stopCollecting.Token);
        var sending = Probe.SendSteadilyAsync(sender, "leave", SendInterval, 1200, stopSending.Token, sentAt, clock);

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var terminatedAt = clock.Elapsed;
        var (exitCode, took) = await leaving.TerminateAsync();
        var goneAt = clock.Elapsed;
        var closedOnLeaving = await onLeaving.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        var resumed = await Probe.EventuallyAsync(
            () => arrivals.Any(arrival => sentAt.TryGetValue(arrival.Text, out var at) && at > goneAt),
            TimeSpan.FromSeconds(20));
        await leaving.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stopSending.CancelAsync();
        var sent = await sending;
        var complete = await Probe.EventuallyAsync(() => arrivals.Count >= sent.Count, TimeSpan.FromSeconds(30));
        await stopCollecting.CancelAsync();
        await collecting;
        var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        var history = await Probe.ReadHistoryAsync(leaving, total);
        var newHosts = _cluster.HistoryHosts.Where(node => node != leaving).Select(node => node.Name).ToList();

        _output.WriteLine($"{leaving.Name} (the sequencer's node) left on SIGTERM in {took.TotalSeconds:F1} s with exit code {exitCode}; its client was closed with {closedOnLeaving.Status}; sequencer moved to [{string.Join(", ", newHosts)}]");
        var times = arrivals.Select(arrival => arrival.At).Where(at => at >= terminatedAt).ToList();
        var pause = times.Zip(times.Skip(1), (earlier, later) => later - earlier).DefaultIfEmpty().Max();
        _output.WriteLine($"longest silence on {others[1].Name} after the SIGTERM: {pause.TotalSeconds:F1} s");
        _output.WriteLine($"sent {sent.Count}, received {arrivals.Count} on {others[1].Name}, history {history.Count} read on the rejoined {leaving.Name}");
        Assert.True(resumed, $"{others[1].Name} received nothing sent after {leaving.Name} left\n{_cluster.Output}");
        Assert.True(complete, $"received {arrivals.Count} of {sent.Count}\n{_cluster.Output}");
        Assert.Single(newHosts);
        Assert.Equal(sent, arrivals.Select(arrival => arrival.Text));
        Assert.Equal(sent, history);
    }

    [Fact]
    public async Task Should_keep_relaying_while_another_node_is_killed_and_restarted()
    {
        var host = Assert.Single(_cluster.HistoryHosts);
        var others = _cluster.Nodes.Where(node => node != host).ToList();
        var (victim, senderNode) = (others[1], others[0]);
        var clock = Stopwatch.StartNew();
        await using var sender = await RelayClient.ConnectAsync(senderNode.WebSocketUrl);
        await using var receiver = await RelayClient.ConnectAsync(host.WebSocketUrl);
        var arrivals = new ConcurrentQueue<Arrival>();
        using var stopCollecting = new CancellationTokenSource();
        using var stopSending = new CancellationTokenSource();
        var collecting = Probe.CollectAsync(receiver, arrivals, clock, stopCollecting.Token);
        var sending = Probe.SendSteadilyAsync(sender, "crash", SendInterval, 1200, stopSending.Token);

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var killedAt = clock.Elapsed;
        await victim.KillAsync();
        // The restarted node joins under its old address once the cluster has removed the dead incarnation.
        await victim.StartAsync(TimeSpan.FromSeconds(60));
        var rejoinedAt = clock.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stopSending.CancelAsync();
        var sent = await sending;
        var complete = await Probe.EventuallyAsync(() => arrivals.Count >= sent.Count, TimeSpan.FromSeconds(30));
        await stopCollecting.CancelAsync();
        await collecting;
        var total = await Probe.SettledLastSequenceAsync(_cluster.Nodes);
        var history = await Probe.ReadHistoryAsync(victim, total);

        var times = arrivals.Select(arrival => arrival.At).Where(at => at >= killedAt).ToList();
        var pause = times.Zip(times.Skip(1), (earlier, later) => later - earlier).DefaultIfEmpty().Max();
        _output.WriteLine($"{victim.Name} killed, back and ready {(rejoinedAt - killedAt).TotalSeconds:F1} s later; longest silence on {host.Name} meanwhile: {pause.TotalSeconds:F1} s");
        _output.WriteLine($"sent {sent.Count}, received {arrivals.Count} on {host.Name}, history {history.Count} read on the restarted {victim.Name}");
        Assert.True(complete, $"received {arrivals.Count} of {sent.Count}\n{_cluster.Output}");
        Assert.Equal(sent, arrivals.Select(arrival => arrival.Text));
        Assert.Equal(sent, history);
        Assert.Same(host, Assert.Single(_cluster.HistoryHosts));
    }

    [Fact]
    public async Task Should_resume_relaying_within_15_seconds_of_a_hard_kill_of_the_sequencer_node()
    {
        var host = Assert.Single(_cluster.HistoryHosts);
        var survivors = _cluster.Nodes.Where(node => node != host).ToList();
        var clock = Stopwatch.StartNew();
        await using var sender = await RelayClient.ConnectAsync(survivors[0].WebSocketUrl);
        await using var receiver = await RelayClient.ConnectAsync(survivors[1].WebSocketUrl);
        var sentAt = new ConcurrentDictionary<string, TimeSpan>();
        var arrivals = new ConcurrentQueue<Arrival>();
        using var stopCollecting = new CancellationTokenSource();
        using var stopSending = new CancellationTokenSource();
        var collecting = Probe.CollectAsync(receiver, arrivals, clock, stopCollecting.Token);
        var sending = Probe.SendSteadilyAsync(sender, "kill", SendInterval, 1200, stopSending.Token, sentAt, clock);

        await Task.Delay(TimeSpan.FromSeconds(2));
        var killedAt = clock.Elapsed;
        await host.KillAsync();
        // Patches sent while the signal was on its way may still have made it; count from the moment it was dead.
        var deadAt = clock.Elapsed;
        var resumed = await Probe.EventuallyAsync(
            () => arrivals.Any(arrival => sentAt.TryGetValue(arrival.Text, out var at) && at > deadAt),
            TimeSpan.FromSeconds(45));
        var resumedAt = resumed
            ? arrivals.First(arrival => sentAt.TryGetValue(arrival.Text, out var at) && at > deadAt).At
            : clock.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stopSending.CancelAsync();
        var sent = await sending;
        var complete = await Probe.EventuallyAsync(() => arrivals.Count >= sent.Count, TimeSpan.FromSeconds(30));
        await stopCollecting.CancelAsync();
        await collecting;
        var total = await Probe.SettledLastSequenceAsync(survivors);
        var history = await Probe.ReadHistoryAsync(survivors[0], total);
        var newHost = _cluster.HistoryHosts.Where(node => node != host).Select(node => node.Name).ToList();

        var failover = resumedAt - killedAt;
        _output.WriteLine($"relaying resumed {failover.TotalSeconds:F1} s after SIGKILL of {host.Name} (the sequencer's node); sequencer now on [{string.Join(", ", newHost)}]");
        _output.WriteLine($"sent {sent.Count}, received {arrivals.Count} on {survivors[1].Name}, history {history.Count} read on {survivors[0].Name}");
        _output.WriteLine($"the failover as the survivors logged it (SIGKILL at {DateTime.UtcNow - (clock.Elapsed - killedAt):HH:mm:ss.fff} UTC):");
        foreach (var line in FailoverLog(survivors))
        {
            _output.WriteLine(line);
        }

        Assert.True(resumed, $"no patch sent after the kill arrived\n{_cluster.Output}");
        Assert.True(failover < TimeSpan.FromSeconds(15), $"relaying resumed only {failover.TotalSeconds:F1} s after the kill");
        Assert.True(complete, $"received {arrivals.Count} of {sent.Count}\n{_cluster.Output}");
        Assert.Equal(sent, arrivals.Select(arrival => arrival.Text));
        Assert.Equal(sent, history);
    }

    private static IEnumerable<string> FailoverLog(IEnumerable<RelayNode> nodes)
    {
        string[] milestones = ["as UNREACHABLE", "SBR took decision", "Member removed", RelayCluster.HistoryRecoveredLogLine];
        return nodes
            .SelectMany(node => node.Output.Split('\n'))
            .Where(line => milestones.Any(milestone => line.Contains(milestone, StringComparison.Ordinal)))
            .Select(line => line.Length > 200 ? line[..200] : line);
    }
}
