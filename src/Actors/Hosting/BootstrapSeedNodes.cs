#nullable enable
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Management.Cluster.Bootstrap.ContactPoint;

namespace Relay.Actors.Hosting;

/// <summary>
/// What this node answers a peer's Cluster Bootstrap probe (<c>GET /bootstrap/seed-nodes</c>): the contract of
/// Akka.Management's own route, whose HTTP server Relay does not run. The members a joiner may take as seeds are
/// those Up, WeaklyUp or Joining and reachable, at most <see cref="MaxNodes"/>; none while this node is on its way out.
/// An answer with no members tells the prober this contact point is there but in no cluster yet.
/// </summary>
public sealed class BootstrapSeedNodes
{
    /// <summary>The most members one answer names, as Akka.Management's route.</summary>
    public const int MaxNodes = 5;

    private readonly Akka.Cluster.Cluster _cluster;

    /// <summary>Answers for the cluster of <paramref name="system"/>.</summary>
    public BootstrapSeedNodes(ActorSystem system) => _cluster = Akka.Cluster.Cluster.Get(system);

    /// <summary>The answer now, from this node's view of the cluster.</summary>
    public HttpBootstrapJsonProtocol.SeedNodes Current()
    {
        var self = _cluster.SelfMember;
        var state = _cluster.State;
        var members = state.Members.Select(member => (
            new HttpBootstrapJsonProtocol.ClusterMember(member.Address, member.UniqueAddress.Uid, member.Status, member.Roles),
            Reachable: !state.Unreachable.Contains(member)));
        return Of(_cluster.SelfAddress, self.Status, members);
    }

    /// <summary>
    /// The answer of a node at <paramref name="self"/> whose own status is <paramref name="selfStatus"/>, given the members it
    /// sees (in the cluster's address order) and whether each is reachable.
    /// </summary>
    public static HttpBootstrapJsonProtocol.SeedNodes Of(
        Address self,
        MemberStatus selfStatus,
        IEnumerable<(HttpBootstrapJsonProtocol.ClusterMember Member, bool Reachable)> members)
    {
        // A node leaving or gone must not be taken as a seed: the joiner would join a cluster it is about to leave.
        if (selfStatus is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down or MemberStatus.Removed)
        {
            return new HttpBootstrapJsonProtocol.SeedNodes(self, ImmutableList<HttpBootstrapJsonProtocol.ClusterMember>.Empty);
        }

        var seeds = members
            .Where(entry => entry.Reachable && entry.Member.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining)
            .Select(entry => entry.Member)
            .Take(MaxNodes)
            .ToImmutableList();
        return new HttpBootstrapJsonProtocol.SeedNodes(self, seeds);
    }
}
