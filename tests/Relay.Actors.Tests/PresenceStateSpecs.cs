#nullable enable
using System.Text;
using Relay.Actors.Presence;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>One document's presence list on one node, without an actor around it.</summary>
public sealed class PresenceStateSpecs
{
    private const string Self = "akka.tcp://relay@127.0.0.1:1";
    private const string Other = "akka.tcp://relay@127.0.0.1:2";
    private static readonly PresenceLimits Limits = new(TimeSpan.FromSeconds(10), MaxUpdatesPerSecond: 3);

    [Fact]
    public void Should_list_a_connection_once_it_sets_a_state_and_update_it()
    {
        var state = new PresenceState(Self, Limits);
        Assert.Empty(state.Connect("c1", "anna", 1, now: 0));
        Assert.Equal(0, state.LocalPresent);

        var joined = Assert.Single(state.Set("c1", 1, Json("{\"x\":1}"), now: 10));
        Assert.Equal(PresenceChange.Joined, joined.Change);
        Assert.Equal(new[] { "c1", "anna", "{\"x\":1}" }, new[] { joined.Entry.Client, joined.Entry.User, Text(joined.Entry.State) });
        Assert.True(joined.IsOf(Self));

        var updated = Assert.Single(state.Set("c1", 1, Json("{\"x\":2}"), now: 20));
        Assert.Equal(PresenceChange.Updated, updated.Change);
        Assert.Equal("{\"x\":2}", Text(Assert.Single(state.Entries).State));
        Assert.Equal(1, state.LocalPresent);
    }

    [Fact]
    public void Should_never_list_a_client_for_itself()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        state.Connect("c2", "bob", 2, 0);
        state.Set("c1", 1, Json("{}"), 1);
        state.Set("c2", 2, Json("{}"), 1);

        Assert.Equal("c2", Assert.Single(state.ListFor("c1")).Client);
        Assert.Equal("c1", Assert.Single(state.ListFor("c2")).Client);
        Assert.Equal(2, state.ListFor("c3").Count);
    }

    [Fact]
    public void Should_take_a_client_out_when_it_clears_and_bring_it_back_when_it_sets_again()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{}"), 1);

        Assert.Equal(PresenceChange.Left, Assert.Single(state.Clear("c1", 1, 2)).Change);
        Assert.Empty(state.Entries);
        Assert.Empty(state.Tick(100_000));

        Assert.Equal(PresenceChange.Joined, Assert.Single(state.Set("c1", 1, Json("{}"), 100_001)).Change);
    }

    [Fact]
    public void Should_take_a_client_out_when_its_connection_closes()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{}"), 1);

        var left = Assert.Single(state.Disconnect("c1", 1));
        Assert.Equal(PresenceChange.Left, left.Change);
        Assert.Equal("c1", left.Entry.Client);
        Assert.True(state.IsEmpty);
        Assert.Empty(state.Disconnect("c1", 1));
    }

    [Fact]
    public void Should_let_a_newer_connection_under_a_name_take_over_and_ignore_the_older_ones_close()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{\"tab\":\"old\"}"), 1);

        // The reconnect takes the entry over with the state it had: no second entry, no leave.
        var takeover = Assert.Single(state.Connect("c1", "anna", 2, 5));
        Assert.Equal(PresenceChange.Updated, takeover.Change);
        Assert.Equal(2, takeover.Entry.Incarnation);
        Assert.Empty(state.Disconnect("c1", 1));
        Assert.Empty(state.Set("c1", 1, Json("{\"tab\":\"stale\"}"), 6));
        Assert.Equal("{\"tab\":\"old\"}", Text(Assert.Single(state.Entries).State));

        Assert.Equal(PresenceChange.Updated, Assert.Single(state.Set("c1", 2, Json("{\"tab\":\"new\"}"), 7)).Change);
        Assert.Equal(PresenceChange.Left, Assert.Single(state.Disconnect("c1", 2)).Change);
        Assert.Empty(state.Entries);
    }

    [Fact]
    public void Should_ignore_a_connection_older_than_the_one_that_holds_the_name()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 5, 0);

        Assert.Empty(state.Connect("c1", "anna", 4, 1));
        Assert.Empty(state.Set("c1", 4, Json("{}"), 2));
        Assert.Equal(PresenceChange.Joined, Assert.Single(state.Set("c1", 5, Json("{}"), 3)).Change);
    }

    [Fact]
    public void Should_coalesce_updates_over_the_rate_into_the_latest_shown_when_the_second_is_over()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        var shown = new List<PresenceEvent>();
        for (var i = 1; i <= 100; i++)
        {
            shown.AddRange(state.Set("c1", 1, Json($"{{\"i\":{i}}}"), now: 100 + i));
        }

        // The first three of the second show, the 97 after them wait as one: the latest.
        Assert.Equal(3, shown.Count);
        Assert.Empty(state.Tick(1_000));
        var flushed = Assert.Single(state.Tick(1_101));
        Assert.Equal(PresenceChange.Updated, flushed.Change);
        Assert.Equal("{\"i\":100}", Text(flushed.Entry.State));
        Assert.Empty(state.Tick(5_000));
        Assert.Equal("{\"i\":100}", Text(Assert.Single(state.Entries).State));
    }

    [Fact]
    public void Should_drop_a_waiting_update_when_the_client_clears()
    {
        var state = new PresenceState(Self, Limits with { MaxUpdatesPerSecond = 1 });
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{\"i\":1}"), 1);
        Assert.Empty(state.Set("c1", 1, Json("{\"i\":2}"), 2));

        Assert.Single(state.Clear("c1", 1, 3));
        Assert.Empty(state.Tick(2_000));
        Assert.Empty(state.Entries);
    }

    [Fact]
    public void Should_take_a_silent_client_out_after_the_timeout_and_bring_it_back_with_its_last_state_at_its_next_frame()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{\"x\":1}"), 1_000);

        Assert.Empty(state.Tick(10_999));
        Assert.Empty(state.Heard("c1", 1, 10_999));
        Assert.Empty(state.Tick(20_998));
        Assert.Equal(PresenceChange.Left, Assert.Single(state.Tick(20_999)).Change);
        Assert.Empty(state.Entries);
        Assert.Empty(state.Tick(60_000));

        var back = Assert.Single(state.Heard("c1", 1, 60_001));
        Assert.Equal(PresenceChange.Joined, back.Change);
        Assert.Equal("{\"x\":1}", Text(back.Entry.State));
    }

    [Fact]
    public void Should_list_another_nodes_entries_until_they_are_withdrawn()
    {
        var state = new PresenceState(Self, Limits);
        var remote = Entry("r1", Other, 1, "{\"x\":1}");

        Assert.Equal(PresenceChange.Joined, Assert.Single(state.Announced(remote, 0)).Change);
        Assert.Empty(state.Announced(remote, 1));
        Assert.Equal(PresenceChange.Updated, Assert.Single(state.Announced(remote with { State = Json("{\"x\":2}") }, 2)).Change);
        Assert.Equal(0, state.LocalPresent);
        Assert.Empty(state.LocalEntries);

        Assert.Empty(state.Withdrawn("r1", Self, 1));
        Assert.Equal(PresenceChange.Left, Assert.Single(state.Withdrawn("r1", Other, 1)).Change);
        Assert.Empty(state.Entries);
    }

    [Fact]
    public void Should_expire_another_nodes_entry_not_refreshed_within_the_timeout()
    {
        var state = new PresenceState(Self, Limits);
        var remote = Entry("r1", Other, 1, "{}");
        state.Announced(remote, 0);

        // A heartbeat with the same entry refreshes it.
        state.Announced(remote, 9_000);
        Assert.Empty(state.Tick(18_999));
        var expired = Assert.Single(state.Tick(19_000));
        Assert.Equal(PresenceChange.Left, expired.Change);
        Assert.Equal("r1", expired.Entry.Client);

        // Its node's next heartbeat (after a heal) brings it back.
        Assert.Equal(PresenceChange.Joined, Assert.Single(state.Announced(remote, 20_000)).Change);
    }

    [Fact]
    public void Should_drop_every_entry_of_a_node_at_once()
    {
        var state = new PresenceState(Self, Limits);
        state.Announced(Entry("r1", Other, 1, "{}"), 0);
        state.Announced(Entry("r2", Other, 2, "{}"), 0);
        state.Announced(Entry("r3", "akka.tcp://relay@127.0.0.1:3", 3, "{}"), 0);
        state.Connect("c1", "anna", 1, 0);
        state.Set("c1", 1, Json("{}"), 0);

        var dropped = state.DropNode(Other);
        Assert.Equal(new[] { "r1", "r2" }, dropped.Select(e => e.Entry.Client).Order());
        Assert.All(dropped, e => Assert.Equal(PresenceChange.Left, e.Change));
        Assert.Equal(new[] { "c1", "r3" }, state.Entries.Select(e => e.Client).Order());
        Assert.Empty(state.DropNode(Self));
    }

    [Fact]
    public void Should_let_the_newer_connection_under_a_name_win_across_nodes()
    {
        var state = new PresenceState(Self, Limits);
        state.Connect("c1", "anna", 10, 0);
        state.Set("c1", 10, Json("{\"on\":\"self\"}"), 0);

        // An older connection elsewhere does not replace this node's.
        Assert.Empty(state.Announced(Entry("c1", Other, 9, "{\"on\":\"other\"}"), 1));

        // A newer one does; this node's connection no longer owns the name, and its close changes nothing.
        var moved = Assert.Single(state.Announced(Entry("c1", Other, 11, "{\"on\":\"other\"}"), 2));
        Assert.Equal(PresenceChange.Updated, moved.Change);
        Assert.Equal(Other, Assert.Single(state.Entries).Node);
        Assert.Empty(state.LocalEntries);
        Assert.Empty(state.Set("c1", 10, Json("{}"), 3));
        Assert.Empty(state.Disconnect("c1", 10));
        Assert.Single(state.Entries);

        // And an older node's leave does not remove the newer one's entry.
        Assert.Empty(state.Withdrawn("c1", Self, 10));
        Assert.Empty(state.Withdrawn("c1", Other, 9));
        Assert.Single(state.Entries);
    }

    private static PresenceEntry Entry(string client, string node, long incarnation, string state) =>
        new(client, client + "-user", Json(state), node, incarnation);

    private static ReadOnlyMemory<byte> Json(string json) => Encoding.UTF8.GetBytes(json);

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
