#nullable enable
using Relay.Actors.Journal;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Which journal writes commit together: <see cref="CommitGroups{T}"/> alone, no journal.</summary>
public sealed class CommitGroupsSpecs
{
    [Fact]
    public void Should_commit_a_lone_write_at_once()
    {
        var groups = new CommitGroups<string>(maxInFlight: 1, maxRows: 100);

        Assert.Equal(["a"], groups.Add("a", rows: 3));
        Assert.Equal(1, groups.InFlight);
        Assert.Null(groups.Completed());
        Assert.Equal(0, groups.InFlight);
        Assert.Equal(["b"], groups.Add("b", rows: 1));
    }

    [Fact]
    public void Should_gather_the_writes_that_arrive_during_a_commit_into_the_next_one_in_arrival_order()
    {
        var groups = new CommitGroups<string>(maxInFlight: 1, maxRows: 100);
        groups.Add("a", rows: 1);

        Assert.Null(groups.Add("b", rows: 1));
        Assert.Null(groups.Add("c", rows: 5));
        Assert.Null(groups.Add("d", rows: 2));
        Assert.Equal(3, groups.Waiting);

        Assert.Equal(["b", "c", "d"], groups.Completed());
        Assert.Equal(1, groups.InFlight);
        Assert.Equal(0, groups.Waiting);
    }

    [Fact]
    public void Should_cap_a_group_by_rows_but_always_take_one_write_however_big()
    {
        var groups = new CommitGroups<string>(maxInFlight: 1, maxRows: 10);
        groups.Add("first", rows: 1);
        groups.Add("huge", rows: 50);
        groups.Add("a", rows: 6);
        groups.Add("b", rows: 4);
        groups.Add("c", rows: 1);

        Assert.Equal(["huge"], groups.Completed());
        Assert.Equal(["a", "b"], groups.Completed());
        Assert.Equal(["c"], groups.Completed());
        Assert.Null(groups.Completed());
    }

    [Fact]
    public void Should_start_up_to_max_in_flight_commits_before_writes_wait()
    {
        var groups = new CommitGroups<string>(maxInFlight: 2, maxRows: 100);

        Assert.Equal(["a"], groups.Add("a", rows: 1));
        Assert.Equal(["b"], groups.Add("b", rows: 1));
        Assert.Null(groups.Add("c", rows: 1));
        Assert.Null(groups.Add("d", rows: 1));
        Assert.Equal(2, groups.InFlight);

        Assert.Equal(["c", "d"], groups.Completed());
        Assert.Equal(2, groups.InFlight);
        Assert.Null(groups.Completed());
        Assert.Null(groups.Completed());
        Assert.Equal(0, groups.InFlight);
    }

    [Fact]
    public void Should_refuse_a_completion_with_no_commit_under_way()
    {
        var groups = new CommitGroups<string>(maxInFlight: 1, maxRows: 1);

        Assert.Throws<InvalidOperationException>(() => groups.Completed());
    }
}
