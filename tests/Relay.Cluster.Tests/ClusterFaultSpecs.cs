using System.Net.WebSockets;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Faults under steady traffic: a client on one surviving node sends 200 patches/s for 12 s while a client on
/// another surviving node watches, and a node leaves, a node dies, or the database goes away. Each spec prints
/// sent, delivered, missing, doubled and out-of-order counts and asserts that every patch arrived exactly once,
/// in order, and is in the history a late joiner reads. Every test starts its own three-node cluster on its own
/// database, because it takes parts away. The traffic goes to the document <c>/fault</c>, so that where its
/// sequencer runs depends on <c>Relay:Documents:Placement</c>: the specs about the sequencer's node run with
/// both placements (with <c>sharded</c> that node is whichever hosts <c>/fault</c>'s entity, read from the
/// nodes' status), the others with the default <c>singleton</c> only, to keep the suite's time.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterFaultSpecs : IAsyncLifetime
{
    private static readonly TimeSpan SendInterval = TimeSpan.FromMilliseconds(5);
    private const int PatchCount = 2400;
    private const string Document = "fault";

    // The sender is held back while the sequencer or the journal is away; it gives up after this long.
    private static readonly TimeSpan SendingLimit = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(40);
    private const WebSocketCloseStatus TryAgainLater = (WebSocketCloseStatus)1013;

    // The partition spec's presence, on a document of its own; its clients ping a fifth of the default timeout (10 s).
    private const string PresenceDocument = "fault-presence";
    private static readonly TimeSpan PresencePingEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan PresenceBound = TimeSpan.FromSeconds(30);

    // docs/cluster.md, "Presence": a node's clients leave the other lists at its unreachability or, should that not
    // fire, at their entries' expiry (Relay:Presence:TimeoutSeconds, 10 s); with room for a loaded machine.
    private static readonly TimeSpan PresenceLeaveBound = TimeSpan.FromSeconds(10 + 10);

    // A fault comes once this many patches went from the sender through the sequencer to the watcher (a second's worth).
    private const int FlowingBeforeFault = 200;

    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;
    private RelayCluster? _cluster;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public ClusterFaultSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    private RelayCluster Cluster => _cluster ?? throw new InvalidOperationException("no cluster started");

    /// <summary>Where the documents' sequencers run.</summary>
    public static TheoryData<string> Placements => new() { "singleton", "sharded" };

    /// <inheritdoc />
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_deliver_every_patch_once_in_order_while_the_sequencer_node_leaves_gracefully_and_rejoins(string placement)
    {
        var leaving = await StartClusterAsync(placement);
        var others = Cluster.Nodes.Where(node => node != leaving).ToList();
        await using var sender = await RelayClient.ConnectAsync(others[0].WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(others[1].WebSocketUrlOf(Document));
        await using var onLeaving = await RelayClient.ConnectAsync(leaving.WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "leave", SendInterval, PatchCount, SendingLimit);

        await AssertFlowsAsync(traffic);
        var terminatedAt = traffic.Clock.Elapsed;
        // Bounded: a node that takes longer than 10 s to leave fails the spec.
        var (exitCode, took) = await leaving.TerminateAsync(TimeSpan.FromSeconds(10));
        var goneAt = traffic.Clock.Elapsed;
        var closedOnLeaving = await onLeaving.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        var resumed = await Probe.EventuallyAsync(() => traffic.ArrivedSentAfter(goneAt), TimeSpan.FromSeconds(20));
        await leaving.StartAsync();
        var (sent, received) = await traffic.FinishAsync(DeliveryTimeout);
        var history = await ReadSettledHistoryAsync(leaving);
        var newHost = await Cluster.SingleHistoryHostAsync(Document);

        _output.WriteLine($"{placement}: {leaving.Name} (the sequencer's node) left on SIGTERM in {took.TotalSeconds:F1} s with exit code {exitCode}; its client was closed with {(int?)closedOnLeaving.Status}; sequencer now on {newHost.Name}");
        _output.WriteLine($"longest silence on {others[1].Name} after the SIGTERM: {traffic.LongestSilenceAfter(terminatedAt).TotalSeconds:F1} s");
        var tally = Report(sent, received, history, others[1], leaving);
        Assert.Equal(0, exitCode);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, closedOnLeaving.Status);
        Assert.True(resumed, $"{others[1].Name} received nothing sent after {leaving.Name} left\n{Cluster.Output}");
        if (placement == "singleton")
        {
            // The singleton stays with the oldest member; the rejoined node is the youngest.
            Assert.NotSame(leaving, newHost);
        }

        AssertExact(tally, sent, history);
        AssertOpen(sender, watcher);
    }

    [Fact]
    public async Task Should_deliver_every_patch_once_in_order_while_another_node_is_killed_and_restarted()
    {
        var host = await StartClusterAsync("singleton");
        var others = Cluster.Nodes.Where(node => node != host).ToList();
        var (victim, senderNode) = (others[1], others[0]);
        await using var sender = await RelayClient.ConnectAsync(senderNode.WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(host.WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "crash", SendInterval, PatchCount, SendingLimit);
        // A relay.v1 client on the victim: once the node is back, it resumes there after what it held.
        await using var reader = await RelayV1Client.ConnectAsync(new Uri(victim.WebSocketUrlOf(Document) + "?client=reader"));

        // The kill comes once the traffic reaches the reader on the victim.
        var held = (await reader.ReceiveAsync(TimeSpan.FromSeconds(30))).Seq;
        var killedAt = traffic.Clock.Elapsed;
        await victim.KillAsync();
        while (reader.Client.Pending > 0)
        {
            held = Math.Max(held, (await reader.ReceiveAsync()).Seq);
        }

        // The restarted node joins under its old address once the cluster has removed the dead incarnation.
        await victim.StartAsync(TimeSpan.FromSeconds(60));
        var rejoinedAt = traffic.Clock.Elapsed;
        var (sent, received) = await traffic.FinishAsync(DeliveryTimeout);
        var history = await ReadSettledHistoryAsync(victim);
        await using var resumed = await RelayV1Client.ConnectAsync(
            new Uri($"{victim.WebSocketUrlOf(Document)}?client=reader&after={held}&epoch={reader.Epoch}"));
        var tail = await resumed.ReceiveManyAsync(history.Count - (int)held, TimeSpan.FromSeconds(30));

        _output.WriteLine($"{victim.Name} killed, back and ready {(rejoinedAt - killedAt).TotalSeconds:F1} s later; longest silence on {host.Name} meanwhile: {traffic.LongestSilenceAfter(killedAt).TotalSeconds:F1} s");
        var tally = Report(sent, received, history, host, victim);
        _output.WriteLine($"the relay.v1 reader held {held} patches when {victim.Name} died and resumed there with {tail.Count} more");
        AssertExact(tally, sent, history);
        AssertOpen(sender, watcher);
        Assert.Same(host, await Cluster.SingleHistoryHostAsync(Document));
        Assert.True(held > 0, "the relay.v1 reader received nothing before the kill");
        Assert.True(resumed.Resumed, $"hello: {resumed.Hello.Header}");
        Assert.Equal(Enumerable.Range((int)held + 1, tail.Count).Select(i => (long)i), tail.Select(f => f.Seq));
        Assert.Equal(history.Skip((int)held), tail.Select(f => f.Text));
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_deliver_every_patch_once_in_order_and_resume_within_15_seconds_of_a_hard_kill_of_the_sequencer_node(string placement)
    {
        var host = await StartClusterAsync(placement);
        var survivors = Cluster.Nodes.Where(node => node != host).ToList();
        await using var sender = await RelayClient.ConnectAsync(survivors[0].WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(survivors[1].WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "kill", SendInterval, PatchCount, SendingLimit);

        await AssertFlowsAsync(traffic);
        var killedAt = traffic.Clock.Elapsed;
        await host.KillAsync();
        // Patches sent while the signal was on its way may still have made it; count from the moment it was dead.
        var deadAt = traffic.Clock.Elapsed;
        var resumed = await Probe.EventuallyAsync(() => traffic.ArrivedSentAfter(deadAt), TimeSpan.FromSeconds(45));
        var resumedAt = traffic.FirstArrivalSentAfter(deadAt)?.At ?? traffic.Clock.Elapsed;
        var (sent, received) = await traffic.FinishAsync(DeliveryTimeout);
        var history = await ReadSettledHistoryAsync(survivors[0]);
        var newHost = await Cluster.SingleHistoryHostAsync(Document);

        var failover = resumedAt - killedAt;
        _output.WriteLine($"{placement}: relaying resumed {failover.TotalSeconds:F1} s after SIGKILL of {host.Name} (the sequencer's node); sequencer now on {newHost.Name}");
        var tally = Report(sent, received, history, survivors[1], survivors[0]);
        _output.WriteLine($"the failover as the survivors logged it (SIGKILL at {DateTime.UtcNow - (traffic.Clock.Elapsed - killedAt):HH:mm:ss.fff} UTC):");
        foreach (var line in FailoverLog(survivors))
        {
            _output.WriteLine(line);
        }

        Assert.True(resumed, $"no patch sent after the kill arrived\n{Cluster.Output}");
        Assert.True(failover < TimeSpan.FromSeconds(15), $"relaying resumed only {failover.TotalSeconds:F1} s after the kill");
        AssertExact(tally, sent, history);
        AssertOpen(sender, watcher);
    }

    [Fact]
    public async Task Should_give_a_named_client_that_resumes_on_a_survivor_after_a_hard_kill_of_the_sequencer_node_every_patch_once_in_order()
    {
        // The gift app's cluster check in small: a relay.v1 reader on the sequencer's node holds what a writer on a
        // survivor sent; the node is SIGKILLed, and the reader resumes on the writer's node, whose hub knows the head
        // and joins it at once, while the writer goes on writing through the failover. The reader's hello waits for the
        // new sequencer to name its last id; the writer's patches journaled meanwhile must reach it all the same.
        const int Count = 42;
        var host = await StartClusterAsync("singleton");
        var survivor = Cluster.Nodes.First(node => node != host);
        await using var writer = await RelayV1Client.ConnectAsync(new Uri($"{survivor.WebSocketUrlOf(Document)}?client=writer"));
        await using var reader = await RelayV1Client.ConnectAsync(new Uri($"{host.WebSocketUrlOf(Document)}?client=reader"));
        await writer.SendTextAsync(1, "p1");
        await writer.SendTextAsync(2, "p2");
        var held = await reader.ReceiveManyAsync(2, TimeSpan.FromSeconds(30));
        Assert.Equal([1L, 2L], held.Select(frame => frame.Seq));
        // The writer's acks come through its node's hub: once both are in, that hub's head is 2 (its first patches may
        // reach it only from the journal, a heartbeat later: a new subscriber becomes known to the others by gossip).
        var acks = await writer.ReceiveManyAsync(2, TimeSpan.FromSeconds(30));
        Assert.Equal([1L, 2L], acks.Select(frame => frame.Seq));

        await host.KillAsync();
        // While the sequencer is away, the writer's connection resends 2 s after its last frame and the reader's asks
        // for its last id every 2 s from its start: the reader starts halfway through the writer's frames, so that the
        // two cadences are a second apart and the new sequencer journals the writer's frames before it hears the reader.
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writing = Task.Run(async () =>
        {
            for (var id = 3; id <= Count; id++)
            {
                await writer.SendTextAsync(id, "p" + id);
                if (id == (Count + 3) / 2)
                {
                    halfway.TrySetResult();
                }

                // The writer's rate through the failover, not a wait: every frame is asserted, whenever it arrives.
                await Task.Delay(SendInterval * 10);
            }
        });
        await halfway.Task.WaitAsync(TimeSpan.FromSeconds(30));
        RelayV1Client resumed;
        try
        {
            resumed = await RelayV1Client.ConnectAsync(new Uri($"{survivor.WebSocketUrlOf(Document)}?client=reader&after=2&epoch={reader.Epoch}"));
        }
        catch (InvalidOperationException closed)
        {
            // The survivor ended the resumed connection before its hello: what its node logged says why.
            throw new Xunit.Sdk.XunitException($"{closed.Message}\n{Cluster.Output}");
        }

        await using var _ = resumed;
        var frames = new List<V1Frame>();
        try
        {
            while (frames.Count == 0 || frames[^1].Seq < Count)
            {
                frames.Add(await resumed.ReceiveAsync(TimeSpan.FromSeconds(30)));
            }
        }
        catch (TimeoutException)
        {
            // Asserted below, with what did arrive.
        }

        await writing.WaitAsync(TimeSpan.FromSeconds(30));
        var seqs = frames.Select(frame => frame.Seq).ToList();
        _output.WriteLine($"resumed: {resumed.Resumed}, head {resumed.Head}; received {frames.Count} frames after the hello, seq {string.Join(",", seqs)}");
        Assert.True(resumed.Resumed, $"hello: {resumed.Hello.Header}");
        Assert.True(
            seqs.SequenceEqual(Enumerable.Range(3, Count - 2).Select(i => (long)i)),
            $"expected seq 3..{Count} once each in order; missing {string.Join(",", Enumerable.Range(3, Count - 2).Select(i => (long)i).Except(seqs))}\n{Cluster.Output}");
        Assert.Equal(Enumerable.Range(3, Count - 2).Select(i => "p" + i), frames.Select(frame => frame.Text));
    }

    [Fact]
    public async Task Should_keep_the_api_feeds_and_webhooks_once_and_in_order_through_a_hard_kill_of_the_sequencer_node()
    {
        // A backend publishes through one survivor with idempotency keys, retrying what went unanswered; a consumer
        // follows the document's feed and the prefix feed on the other survivor, resuming each by Last-Event-ID
        // whenever it ends; a webhook receiver gets the patches from the dispatcher. Both singletons, the sequencers'
        // and the webhook dispatcher's, run on the oldest node, which is SIGKILLed after the tenth patch.
        const int Count = 40;
        const string Key = "fault-api-key-0123456789ab";
        const string Secret = "webhook-secret-0123456789abcdef";
        await using var receiver = new WebhookReceiver(Secret);
        receiver.Start();
        var host = await StartClusterAsync("singleton", new Dictionary<string, string>
        {
            ["Relay:Api:Keys:0:Secret"] = Key,
            ["Relay:Webhooks:Url"] = receiver.Url,
            ["Relay:Webhooks:Secret"] = Secret,
            ["Relay:Webhooks:MaxBatch"] = "5",
            ["Relay:Webhooks:MaxBackoffSeconds"] = "2",
        });
        var survivors = Cluster.Nodes.Where(node => node != host).ToList();
        using var publisher = new RelayApiClient(survivors[0].HttpUrl, Key);
        using var consumer = new RelayApiClient(survivors[1].HttpUrl, Key);
        var documentFeed = new ResumingFeed(consumer, RelayApiClient.PathOf(Document, "/changes"), Key, withEpoch: true);
        var prefixFeed = new ResumingFeed(consumer, "/api/v1/changes?prefix=" + Document, Key, withEpoch: false);
        List<long> Hooked() => receiver.Patches.Where(patch => patch.Document == Document).Select(patch => patch.Seq).Distinct().ToList();
        for (var i = 1; i <= 10; i++)
        {
            await PublishUntilJournaledAsync(publisher, i);
        }

        Assert.Equal(10, (await documentFeed.ReadUntilAsync(10)).Count);
        Assert.Equal(10, (await prefixFeed.ReadUntilAsync(10)).Count);
        Assert.True(await Probe.EventuallyAsync(() => Task.FromResult(Hooked().Count == 10), TimeSpan.FromSeconds(60)), $"{receiver.Patches.Count} hooked\n{Cluster.Output}");
        await host.KillAsync();
        for (var i = 11; i <= Count; i++)
        {
            await PublishUntilJournaledAsync(publisher, i);
        }

        var expected = Enumerable.Range(1, Count).Select(i => ((long)i, $"[{i}]")).ToList();
        var byDocument = await documentFeed.ReadUntilAsync(Count);
        var byPrefix = await prefixFeed.ReadUntilAsync(Count);
        await documentFeed.DisposeAsync();
        await prefixFeed.DisposeAsync();
        Assert.True(await Probe.EventuallyAsync(() => Task.FromResult(Hooked().Count == Count), TimeSpan.FromSeconds(90)), $"{Hooked().Count} hooked\n{Cluster.Output}");
        var doubles = receiver.Patches.Count - Count;
        _output.WriteLine($"document feed resumed {documentFeed.Resumes} times, prefix feed {prefixFeed.Resumes} times; webhooks sent {doubles} twice");
        Assert.Equal(expected, byDocument);
        Assert.Equal(expected, byPrefix);
        Assert.Equal(expected.Select(e => e.Item1), Hooked());
        Assert.Equal(0, receiver.BadSignatures);
        Assert.True(doubles <= 5, $"{doubles} patches came twice: more than the one batch in flight");
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Should_disconnect_nobody_and_deliver_every_patch_once_in_order_after_PostgreSQL_was_down_for_10_seconds(string placement)
    {
        var host = await StartClusterAsync(placement);
        var others = Cluster.Nodes.Where(node => node != host).ToList();
        await using var sender = await RelayClient.ConnectAsync(others[0].WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(others[1].WebSocketUrlOf(Document));
        await using var onHost = await RelayClient.ConnectAsync(host.WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "outage", SendInterval, PatchCount, SendingLimit);

        await AssertFlowsAsync(traffic);
        var (downAt, upAt) = await TakePostgresDownAsync(traffic, TimeSpan.FromSeconds(10), crash: false);
        var resumed = await Probe.EventuallyAsync(() => traffic.ArrivedSentAfter(downAt), TimeSpan.FromSeconds(30));
        var resumedAt = traffic.FirstArrivalSentAfter(downAt)?.At ?? traffic.Clock.Elapsed;
        var (sent, received) = await traffic.FinishAsync(DeliveryTimeout);
        var history = await ReadSettledHistoryAsync(host);

        _output.WriteLine($"{placement}: PostgreSQL stopped for {(upAt - downAt).TotalSeconds:F1} s; the first patch sent during the outage arrived {(resumedAt - upAt).TotalSeconds:F1} s after it was back");
        var tally = Report(sent, received, history, others[1], host);
        Assert.True(resumed, $"nothing sent during the outage arrived\n{Cluster.Output}");
        AssertExact(tally, sent, history);
        AssertOpen(sender, watcher, onHost);
    }

    [Fact]
    public async Task Should_close_the_sender_with_1013_during_a_longer_PostgreSQL_outage_and_journal_what_it_had_taken_exactly_once()
    {
        // Shorter than the default 30 s so that the spec stays short; the outage outlasts it by far.
        var host = await StartClusterAsync("singleton", new Dictionary<string, string> { ["Relay:UnavailableAfterSeconds"] = "4" });
        var others = Cluster.Nodes.Where(node => node != host).ToList();
        await using var sender = await RelayClient.ConnectAsync(others[0].WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(others[1].WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "long", SendInterval, PatchCount, SendingLimit);

        await AssertFlowsAsync(traffic);
        var sentBeforeOutage = traffic.SentCount;
        var closing = ClosedAtAsync(sender, traffic);
        var (downAt, upAt) = await TakePostgresDownAsync(traffic, TimeSpan.FromSeconds(12), crash: true);
        var (closed, closedAt) = await closing.WaitAsync(TimeSpan.FromSeconds(10));

        // A marker from a new client shows the sequencer journals again; the closed connection's last resends
        // follow within a resend interval, after which nothing more arrives.
        await using var marker = await RelayClient.ConnectAsync(others[0].WebSocketUrlOf(Document));
        await marker.SendTextAsync("marker");
        var journaling = await Probe.EventuallyAsync(() => traffic.Arrivals.Any(arrival => arrival.Text == "marker"), TimeSpan.FromSeconds(30));
        var quiet = await traffic.QuietAsync(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(30));
        var (sent, received) = await traffic.FinishAsync(TimeSpan.Zero);
        var fullHistory = await ReadSettledHistoryAsync(host);
        var history = Probe.Tagged(fullHistory, traffic.Tag);
        var kept = sent.Take(history.Count).ToList();

        _output.WriteLine($"PostgreSQL killed for {(upAt - downAt).TotalSeconds:F1} s; the sender was closed with {(int?)closed.Status} ({closed.Description}) {(closedAt - downAt).TotalSeconds:F1} s into the outage");
        _output.WriteLine($"the sender sent {sent.Count} before it saw the close ({sentBeforeOutage} before the outage); the history keeps the first {history.Count} of them, {sent.Count - history.Count} were never taken from its socket");
        var tally = DeliveryTally.Of(kept, received);
        _output.WriteLine($"{others[1].Name} against the kept patches: {tally}");
        Assert.Equal(TryAgainLater, closed.Status);
        Assert.True(closedAt < upAt, "the sender was closed only after the outage");
        Assert.True(journaling && quiet, $"the sequencer did not journal again after the outage\n{Cluster.Output}");
        Assert.True(history.Count >= sentBeforeOutage, $"the history holds {history.Count} patches, {sentBeforeOutage} were sent before the outage");
        // What was kept is a gap-free prefix of what was sent, each once, in order.
        Assert.Equal(kept, history);
        Assert.Single(fullHistory, text => text == "marker");
        Assert.True(tally.IsExact, $"{tally}\n{Cluster.Output}");
        AssertOpen(watcher);
    }

    [Fact]
    public async Task Should_keep_one_order_one_writer_and_one_presence_list_when_the_sequencers_node_is_cut_off_and_take_it_back_once_healed()
    {
        // Every node in a cgroup of its own from its first instruction, so that iptables can tell their packets apart.
        await using var partition = await NetworkPartition.CreateAsync();
        // Formed by Cluster Bootstrap, as compose and Kubernetes form it: the cut also stops its management port.
        var cutOff = await StartClusterAsync("singleton", bootstrap: true, beforeStart: cluster =>
        {
            foreach (var node in cluster.Nodes)
            {
                partition.Assign(node);
            }
        });
        var majority = Cluster.Nodes.Where(node => node != cutOff).ToList();
        // Presence on the same cluster (docs/cluster.md, "Presence"): a present client on every node, in a document of
        // its own so that the traffic's tallies stay the patches'.
        await using var presentOn0 = await JoinPresenceAsync(majority[0], "on-" + majority[0].Name);
        await using var presentOn1 = await JoinPresenceAsync(majority[1], "on-" + majority[1].Name);
        await using var presentOnCutOff = await JoinPresenceAsync(cutOff, "on-" + cutOff.Name);
        var presentBefore = await PresenceView.AllListEachOtherAsync([presentOn0, presentOn1, presentOnCutOff], PresenceBound);
        Assert.True(presentBefore, $"not every node's client in every list before the cut: {PresenceView.Describe([presentOn0, presentOn1, presentOnCutOff])}");
        await using var sender = await RelayClient.ConnectAsync(majority[0].WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(majority[1].WebSocketUrlOf(Document));
        await using var onCutOff = await RelayClient.ConnectAsync(cutOff.WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "part", SendInterval, PatchCount, SendingLimit);
        await AssertFlowsAsync(traffic);

        await partition.IsolateAsync(cutOff, ClusterPorts(cutOff), majority.SelectMany(ClusterPorts).ToList());
        var cutAt = traffic.Clock.Elapsed;
        // Meanwhile: the majority's clients lose the cut-off node's client once it is unreachable.
        var majorityLeftAt = Task.Run(async () =>
            await PresenceView.AllListEachOtherAsync([presentOn0, presentOn1], PresenceLeaveBound) ? traffic.Clock.Elapsed : (TimeSpan?)null);
        // The cut-off node's own client keeps writing, to the sequencer its node still runs until it downs itself.
        var cutOffSent = new List<string>();
        for (var i = 1; i <= 100 && !onCutOff.Closed.IsCompleted; i++)
        {
            try
            {
                await onCutOff.SendTextAsync($"cut:{i}");
                cutOffSent.Add($"cut:{i}");
            }
            catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or InvalidOperationException)
            {
                break;
            }

            // The client's sending rate (20 a second), not a wait: nothing below depends on how many went out.
            await Task.Delay(50);
        }

        var (closeStatus, closeReason) = await onCutOff.Closed.WaitAsync(TimeSpan.FromSeconds(60));
        var closedAt = traffic.Clock.Elapsed;
        var exited = await Probe.EventuallyAsync(() => !cutOff.IsRunning, TimeSpan.FromSeconds(60));
        var resumed = await Probe.EventuallyAsync(() => traffic.ArrivedSentAfter(cutAt), TimeSpan.FromSeconds(60));
        var resumedAt = traffic.FirstArrivalSentAfter(cutAt)?.At ?? traffic.Clock.Elapsed;
        var presenceLeftAt = await majorityLeftAt;
        // Closed with its node, the cut-off node's present client reconnects, as a load balancer sends it, to the majority.
        await using var presentBack = await JoinPresenceAsync(majority[0], presentOnCutOff.Id);

        // Healed, the node's replacement starts, as an orchestrator reschedules a failed pod: it joins the
        // majority's cluster; there is never a second one. (On a new address: see docs/cluster.md for a restart on
        // the old one soon after a partition.)
        await partition.HealAsync();
        await using var replacement = new RelayNode($"{cutOff.Name}-again", new Dictionary<string, string>(cutOff.Settings), akkaPort: FreePort.Next());
        await replacement.StartAsync(TimeSpan.FromSeconds(90));
        // One list again: every live client on every node, the replacement's too, each once, no ghost of the cut-off node.
        await using var presentOnReplacement = await JoinPresenceAsync(replacement, "on-" + replacement.Name);
        var joinedAt = traffic.Clock.Elapsed;
        PresenceView[] present = [presentOn0, presentOn1, presentBack, presentOnReplacement];
        var presenceHealed = await PresenceView.AllListEachOtherAsync(present, PresenceBound);
        var healedAt = traffic.Clock.Elapsed;
        // And it stays one: a change made after it reaches every client, whose list is still exactly the others.
        await presentOn1.SetAsync($"{{\"client\":\"{presentOn1.Id}\",\"after\":\"heal\"}}");
        var presenceStays = await PresenceView.AllListEachOtherAsync(present, PresenceBound);
        var (sent, received) = await traffic.FinishAsync(DeliveryTimeout);
        var everything = traffic.Arrivals.Select(arrival => arrival.Text).ToList();
        var history = await ReadSettledHistoryAsync(majority[0]);
        var members = await Task.WhenAll(majority.Append(replacement).Select(Probe.MembersAsync));
        var writers = await WritersAsync(Cluster.ConnectionString);
        // The sequencer stays on the oldest member, one of the majority (the replacement is the youngest).
        var newHost = await Cluster.SingleHistoryHostAsync(Document);

        _output.WriteLine($"cut {cutOff.Name} off at {cutAt.TotalSeconds:F1} s: its client closed {(int?)closeStatus} '{closeReason}' " +
                          $"{(closedAt - cutAt).TotalSeconds:F1} s later; relaying resumed {(resumedAt - cutAt).TotalSeconds:F1} s after the cut, " +
                          $"sequencer now on {newHost.Name}; members with {replacement.Name}: {string.Join(",", members)}");
        _output.WriteLine($"the cut-off client sent {cutOffSent.Count} patches, {history.Count(text => text.StartsWith("cut:", StringComparison.Ordinal))} of them journaled; " +
                          $"writers in the journal, in sequence order: {string.Join(" ", writers.Select(run => $"{run.Writer[..8]}x{run.Count}"))}");
        _output.WriteLine($"presence: the cut-off node's client left the majority's lists {(presenceLeftAt - cutAt)?.TotalSeconds:F1} s after the cut; " +
                          $"after the heal, one list on every node {(healedAt - joinedAt).TotalSeconds:F1} s after the replacement's client joined " +
                          $"({(healedAt - cutAt).TotalSeconds:F1} s after the cut): {PresenceView.Describe(present)}");
        var tally = Report(sent, received, history, majority[1], majority[0]);
        foreach (var line in FailoverLog(majority))
        {
            _output.WriteLine(line);
        }

        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, closeStatus);
        Assert.True(exited, $"{cutOff.Name} still runs after it was cut off\n{cutOff.Output}");
        Assert.True(resumed, $"no patch sent after the cut arrived\n{Cluster.Output}");
        AssertExact(tally, sent, history.Where(text => !text.StartsWith("cut:", StringComparison.Ordinal)).ToList());
        // What the cut-off sequencer journaled is everyone's too, once, in its place: the watcher saw the journal's order.
        var journaledCut = history.Where(text => text.StartsWith("cut:", StringComparison.Ordinal)).ToList();
        Assert.Equal(journaledCut, cutOffSent.Take(journaledCut.Count));
        Assert.Equal(history, everything);
        // One writer at a time: each sequencer incarnation's rows form one run, in a history without holes.
        Assert.Equal(writers.Count, writers.Select(run => run.Writer).Distinct().Count());
        Assert.Equal(history.Count, writers.Sum(run => run.Count));
        Assert.All(members, count => Assert.Equal(3, count));
        AssertOpen(sender, watcher);
        Assert.True(presenceLeftAt is not null, $"the cut-off node's client still listed on the majority {PresenceLeaveBound.TotalSeconds} s after the cut");
        Assert.True(presenceHealed && presenceStays, $"not one presence list after the heal: {PresenceView.Describe(present)}");
    }

    /// <summary>A present client named <paramref name="client"/> on <paramref name="node"/>, in <see cref="PresenceDocument"/>.</summary>
    private static Task<PresenceView> JoinPresenceAsync(RelayNode node, string client) =>
        PresenceView.JoinAsync(node, PresenceDocument, client, PresencePingEvery, $"{{\"client\":\"{client}\",\"node\":\"{node.Name}\"}}");

    /// <summary>The ports a node talks to the cluster on: Akka.Remote's and Cluster Bootstrap's.</summary>
    private static List<int> ClusterPorts(RelayNode node) => [node.AkkaPort, .. node.ManagementPort is { } management ? [management] : Array.Empty<int>()];

    /// <summary>
    /// The journal's writers of <see cref="Document"/> in sequence order, each run of consecutive rows by one writer
    /// (a sequencer incarnation) as one entry; fails on a hole in the sequence numbers.
    /// </summary>
    private static async Task<List<(string Writer, int Count)>> WritersAsync(string connectionString)
    {
        var rows = await Probe.JournalRowsAsync(connectionString, Document);
        Assert.Equal(Enumerable.Range(1, rows.Count).Select(i => (long)i), rows.Select(row => row.Sequence));
        var runs = new List<(string Writer, int Count)>();
        foreach (var (_, writer) in rows)
        {
            if (runs.Count > 0 && runs[^1].Writer == writer)
            {
                runs[^1] = (writer, runs[^1].Count + 1);
            }
            else
            {
                runs.Add((writer, 1));
            }
        }

        return runs;
    }

    /// <summary>
    /// Starts a cluster with the sequencers placed as <paramref name="placement"/> says, opens <c>/fault</c> and
    /// returns the node its sequencer runs on.
    /// </summary>
    private async Task<RelayNode> StartClusterAsync(string placement, IDictionary<string, string>? extra = null, Action<RelayCluster>? beforeStart = null, bool bootstrap = false)
    {
        var settings = new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            ["Relay:Documents:Placement"] = placement,
        };
        _cluster = new RelayCluster(await _postgres.CreateDatabaseAsync("relay_faults"), extra: settings, bootstrap: bootstrap);
        beforeStart?.Invoke(_cluster);
        // All three at once, as an orchestrator starts them: about 4 s sooner than node1 first, whose lone start
        // waits out Akka's seed-node timeout (5 s) before it forms the cluster. The sequencer's node is read below.
        await _cluster.StartAllAtOnceAsync();
        // A document's status comes from its sequencer: asking starts it. The first ask may outlast the status's
        // timeout on a busy machine (with sharded, the coordinator allocates the shard first): ask again.
        var opened = await Probe.EventuallyAsync(async () =>
        {
            try
            {
                return await Probe.LastSequenceAsync(_cluster[0], Document) == 0;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60));
        Assert.True(opened, $"/{Document} did not open within 60 s\n{_cluster.Output}");
        var host = await _cluster.SingleHistoryHostAsync(Document);
        _output.WriteLine($"{placement}: the sequencer of /{Document} runs on {host.Name}");
        return host;
    }

    /// <summary>
    /// Publishes <c>[i]</c> to the document through the API, as a backend does through a failover: the same
    /// idempotency key again after an error or no answer, until it is journaled (as <paramref name="i"/>) or a minute passed.
    /// </summary>
    private async Task PublishUntilJournaledAsync(RelayApiClient publisher, int i)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                var answer = await publisher.PublishAsync(Document, $"[{i}]", h => h.Add("Idempotency-Key", "patch-" + i));
                if (answer.Status == System.Net.HttpStatusCode.OK)
                {
                    Assert.Equal(i, answer.Seq);
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, $"patch {i}: {answer.Status} {answer.Body}\n{Cluster.Output}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    private async Task AssertFlowsAsync(SteadyTraffic traffic) =>
        Assert.True(
            await traffic.FlowsAsync(FlowingBeforeFault, TimeSpan.FromSeconds(40)),
            $"the watcher received only {traffic.Arrivals.Count} patches of the {traffic.SentCount} sent before any fault\n{Cluster.Output}");

    /// <summary>Stops (or kills) the collection's PostgreSQL for <paramref name="outage"/> and starts it again, whatever happens.</summary>
    private async Task<(TimeSpan DownAt, TimeSpan UpAt)> TakePostgresDownAsync(SteadyTraffic traffic, TimeSpan outage, bool crash)
    {
        var downAt = traffic.Clock.Elapsed;
        try
        {
            await (crash ? _postgres.KillAsync() : _postgres.StopAsync());
            downAt = traffic.Clock.Elapsed;
            await Task.Delay(outage);
        }
        finally
        {
            await _postgres.StartAsync();
        }

        return (downAt, traffic.Clock.Elapsed);
    }

    private static async Task<((WebSocketCloseStatus? Status, string? Description) Close, TimeSpan At)> ClosedAtAsync(RelayClient client, SteadyTraffic traffic)
    {
        var close = await client.Closed;
        return (close, traffic.Clock.Elapsed);
    }

    private async Task<IReadOnlyList<string>> ReadSettledHistoryAsync(RelayNode node)
    {
        var total = await Probe.SettledLastSequenceAsync(Cluster.Nodes, document: Document);
        return await Probe.ReadHistoryAsync(node, total, Document);
    }

    private DeliveryTally Report(IReadOnlyList<string> sent, IReadOnlyList<string> received, IReadOnlyList<string> history, RelayNode watcherNode, RelayNode historyNode)
    {
        var tally = DeliveryTally.Of(sent, received);
        _output.WriteLine($"{watcherNode.Name}: {tally}");
        _output.WriteLine($"history read on {historyNode.Name}: {history.Count} patches, {(history.SequenceEqual(sent) ? "exactly what was sent, in order" : "NOT what was sent")}");
        return tally;
    }

    private void AssertExact(DeliveryTally tally, IReadOnlyList<string> sent, IReadOnlyList<string> history)
    {
        Assert.True(sent.Count == PatchCount, $"the sender got only {sent.Count} of {PatchCount} patches out\n{Cluster.Output}");
        Assert.True(tally.IsExact, $"{tally}\n{Cluster.Output}");
        Assert.Equal(sent, history);
    }

    private static void AssertOpen(params RelayClient[] clients)
    {
        foreach (var client in clients)
        {
            Assert.False(client.Closed.IsCompleted, $"a client was disconnected ({client.Socket.CloseStatus} {client.Socket.CloseStatusDescription})");
        }
    }

    private static IEnumerable<string> FailoverLog(IEnumerable<RelayNode> nodes)
    {
        string[] milestones = ["as UNREACHABLE", "SBR took decision", "Member removed", "recovered at sequence"];
        return nodes
            .SelectMany(node => node.Output.Split('\n'))
            .Where(line => milestones.Any(milestone => line.Contains(milestone, StringComparison.Ordinal)))
            .Select(line => line.Length > 200 ? line[..200] : line);
    }
}

/// <summary>
/// An API change feed read as a consumer reads it: whenever it ends (a close event, the stream cut, a node gone), it
/// opens again with <c>Last-Event-ID</c> (and the document feed's epoch), and collects every patch event's seq and text.
/// </summary>
internal sealed class ResumingFeed(RelayApiClient api, string path, string key, bool withEpoch) : IAsyncDisposable
{
    private readonly List<(long Seq, string Text)> _patches = new();
    private ServerSentEvents? _feed;
    private string? _lastId;
    private string? _epoch;

    /// <summary>How often the feed was opened again.</summary>
    public int Resumes { get; private set; }

    /// <summary>Reads until <paramref name="count"/> patches are in (at most a minute), and returns all of them.</summary>
    public async Task<List<(long Seq, string Text)>> ReadUntilAsync(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (_patches.Count < count && DateTime.UtcNow < deadline)
        {
            ServerSentEvent? next;
            try
            {
                _feed ??= await OpenAsync();
                next = await _feed.NextAsync(TimeSpan.FromSeconds(20));
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
                next = null;
            }

            if (next is null || next.Type == "close")
            {
                await DisposeAsync();
                Resumes++;
                continue;
            }

            if (next.Type == "hello")
            {
                if (withEpoch && _lastId is not null)
                {
                    Assert.True(next.Json.GetProperty("resumed").GetBoolean(), $"the feed did not resume: {next.Data}");
                }

                _epoch = withEpoch ? next.Json.GetProperty("epoch").GetString() : null;
                continue;
            }

            Assert.Equal("patch", next.Type);
            _lastId = next.Id;
            _patches.Add((next.Json.GetProperty("seq").GetInt64(), next.Json.GetProperty("text").GetString()!));
        }

        return _patches.ToList();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_feed is not null)
        {
            await _feed.DisposeAsync();
            _feed = null;
        }
    }

    private Task<ServerSentEvents> OpenAsync()
    {
        var query = withEpoch && _epoch is not null ? (path.Contains('?') ? "&" : "?") + "epoch=" + _epoch : "";
        var request = new HttpRequestMessage(HttpMethod.Get, path + query);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        if (_lastId is not null)
        {
            request.Headers.Add("Last-Event-ID", _lastId);
        }

        return ServerSentEvents.OpenAsync(api.Http, request);
    }
}
