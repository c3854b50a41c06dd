using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Management.Cluster.Bootstrap.ContactPoint;
using Newtonsoft.Json;
using Relay.Actors.Hosting;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>What a node answers a peer's Cluster Bootstrap probe (<see cref="BootstrapSeedNodes"/>).</summary>
public sealed class BootstrapSeedNodesSpecs
{
    private static readonly Address Self = Address.Parse("akka.ssl.tcp://relay@10.0.0.1:4053");

    [Fact]
    public void Should_name_the_reachable_members_that_are_up_weakly_up_or_joining()
    {
        var members = new[]
        {
            (Member(1, MemberStatus.Up), true),
            (Member(2, MemberStatus.WeaklyUp), true),
            (Member(3, MemberStatus.Joining), true),
            (Member(4, MemberStatus.Up), false),
            (Member(5, MemberStatus.Leaving), true),
            (Member(6, MemberStatus.Exiting), true),
            (Member(7, MemberStatus.Down), true),
            (Member(8, MemberStatus.Removed), true),
        };

        var answer = BootstrapSeedNodes.Of(Self, MemberStatus.Up, members);

        Assert.Equal(Self, answer.SelfNode);
        Assert.Equal([1, 2, 3], answer.Nodes.Select(node => node.NodeUid));
    }

    [Fact]
    public void Should_name_at_most_five_members_in_the_clusters_order()
    {
        var members = Enumerable.Range(1, 8).Select(i => (Member(i, MemberStatus.Up), true));

        var answer = BootstrapSeedNodes.Of(Self, MemberStatus.Up, members);

        Assert.Equal([1, 2, 3, 4, 5], answer.Nodes.Select(node => node.NodeUid));
    }

    [Theory]
    [InlineData(MemberStatus.Leaving)]
    [InlineData(MemberStatus.Exiting)]
    [InlineData(MemberStatus.Down)]
    [InlineData(MemberStatus.Removed)]
    public void Should_name_no_member_while_this_node_is_on_its_way_out(MemberStatus selfStatus)
    {
        var members = Enumerable.Range(1, 3).Select(i => (Member(i, MemberStatus.Up), true));

        var answer = BootstrapSeedNodes.Of(Self, selfStatus, members);

        Assert.Equal(Self, answer.SelfNode);
        Assert.Empty(answer.Nodes);
    }

    [Fact]
    public void Should_read_back_with_the_settings_the_prober_parses_with()
    {
        var answer = BootstrapSeedNodes.Of(Self, MemberStatus.Joining, [(Member(1, MemberStatus.Up), true), (Member(2, MemberStatus.Joining), true)]);

        var read = JsonConvert.DeserializeObject<HttpBootstrapJsonProtocol.SeedNodes>(JsonConvert.SerializeObject(answer))!;

        Assert.Equal(Self, read.SelfNode);
        Assert.Equal(answer.Nodes.Select(node => (node.Node, node.NodeUid, node.Status)), read.Nodes.Select(node => (node.Node, node.NodeUid, node.Status)));
        Assert.Equal(["relay"], read.Nodes[0].Roles);
    }

    private static HttpBootstrapJsonProtocol.ClusterMember Member(int uid, MemberStatus status) =>
        new(Address.Parse($"akka.ssl.tcp://relay@10.0.0.{uid}:4053"), uid, status, ImmutableHashSet.Create("relay"));
}
