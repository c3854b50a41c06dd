#nullable enable
using Akka.Cluster;
using Akka.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Hosting;

/// <summary>
/// The node's readiness checks, registered with ASP.NET Core's health checks through Akka.Hosting. Each check
/// is one thing a load balancer needs before it sends clients here; its name says what is missing.
/// </summary>
public static class RelayHealthChecks
{
    /// <summary>The tag of the readiness checks (the same tag Akka.Hosting's own readiness checks carry).</summary>
    public const string ReadyTag = "ready";

    /// <summary>The tag of the liveness checks (the one Akka.Hosting's actor system liveness check carries).</summary>
    public const string LiveTag = "liveness";

    /// <summary>How old the last sequencer heartbeat may be; the sequencer sends one every second.</summary>
    public static readonly TimeSpan MaxHeartbeatAge = TimeSpan.FromSeconds(5);

    /// <summary>Holes listed by name in the <c>holes</c> check's data; the description counts them all.</summary>
    public const int MaxHolesListed = 20;

    private static readonly TimeSpan JournalTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Registers the checks <c>cluster</c> (this node is an Up member), <c>topic</c> (the hub's subscription is
    /// acknowledged), <c>history</c> (a sequencer heartbeat came through the topic lately) and <c>journal</c>
    /// (the read journal answers a one-row query), and <c>holes</c>: Degraded (the node still serves, delivery skips
    /// them) once a reader found sequence numbers the journal lacks for good, listed in its data.
    /// </summary>
    public static AkkaConfigurationBuilder WithRelayHealthChecks(this AkkaConfigurationBuilder builder, NodeStatus status) =>
        builder
            .WithHealthCheck("cluster", (system, _, _) =>
            {
                var self = Cluster.Get(system).SelfMember;
                return Task.FromResult(self.Status == MemberStatus.Up
                    ? HealthCheckResult.Healthy("Up")
                    : HealthCheckResult.Unhealthy($"this node is {self.Status}, not an Up cluster member"));
            }, tags: [ReadyTag])
            .WithHealthCheck("topic", (_, _, _) => Task.FromResult(status.Subscribed
                ? HealthCheckResult.Healthy("subscribed")
                : HealthCheckResult.Unhealthy($"the patch hub is not subscribed to topic {DocumentName.Default.Topic}")), tags: [ReadyTag])
            .WithHealthCheck("history", (_, _, _) => Task.FromResult(status.SinceLastHeartbeat switch
            {
                null => HealthCheckResult.Unhealthy("no heartbeat from the sequencer yet"),
                var age when age < MaxHeartbeatAge => HealthCheckResult.Healthy($"last heartbeat {age.Value.TotalMilliseconds:F0} ms ago"),
                var age => HealthCheckResult.Unhealthy($"last sequencer heartbeat {age.Value.TotalSeconds:F1} s ago"),
            }), tags: [ReadyTag])
            .WithHealthCheck("journal", async (system, _, cancellationToken) =>
            {
                // One row at most, where the history ends: cheap on any journal, and it goes through the same
                // read journal that serves replay.
                // Off the request's thread and bounded as a whole: the read journal's first use waits for the
                // journal before any stream runs, and /readyz must answer in seconds whatever the journal does.
                var sequence = Math.Max(1, status.LastSequence);
                var journal = RelayHostingExtensions.CreatePatchJournal(system);
                await Task.Run(
                        () => journal.Read(DocumentName.Default, sequence, sequence)
                            .CompletionTimeout(JournalTimeout)
                            .RunWith(Sink.Ignore<PatchAppended>(), system.Materializer()),
                        cancellationToken)
                    .WaitAsync(JournalTimeout + JournalTimeout, cancellationToken);
                return HealthCheckResult.Healthy("answers");
            }, tags: [ReadyTag])
            .WithHealthCheck("holes", (_, _, _) =>
            {
                var holes = status.Holes.Holes;
                if (holes.Count == 0)
                {
                    return Task.FromResult(HealthCheckResult.Healthy("none found"));
                }

                var listed = holes.Take(MaxHolesListed)
                    .Select(hole => new { document = hole.Document.Value, from = hole.From, to = hole.To })
                    .ToArray();
                return Task.FromResult(HealthCheckResult.Degraded(
                    $"{holes.Count} hole(s) in the journal: sequence numbers missing while later ones are there; delivery skips them",
                    data: new Dictionary<string, object> { ["holes"] = listed }));
            }, tags: [ReadyTag]);
}
