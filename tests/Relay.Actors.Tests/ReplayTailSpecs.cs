#nullable enable
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>The latest patches a hub handed on, kept in memory for its joiners, bounded per document and per node.</summary>
public sealed class ReplayTailSpecs
{
    private const int Overhead = ReplayTail.EntryOverheadBytes;

    [Fact]
    public void Should_cover_what_the_hub_hands_on_after_its_head_and_show_it_in_a_view()
    {
        var tail = new ReplayTail(new TailLimits(1 << 20, new ReplayTailBudget(1 << 20)));
        tail.StartAt(4);
        Assert.Null(tail.View());
        Assert.Equal((5L, 4L), (tail.First, tail.Through));

        for (var sequence = 5; sequence <= 3000; sequence++)
        {
            Add(tail, sequence, 10);
        }

        var view = tail.View()!;
        Assert.Equal((5L, 3000L, 2996), (view.First, view.Through, view.Count));
        Assert.Equal(Enumerable.Range(5, 2996).Select(n => (long)n), Sequences(view, 0));
        Assert.Equal(2996L * (10 + Overhead), tail.Bytes);
    }

    [Fact]
    public void Should_keep_a_view_unchanged_while_the_tail_goes_on_and_drops_its_oldest()
    {
        var perDocument = 2000L * (10 + Overhead);
        var tail = new ReplayTail(new TailLimits(perDocument, new ReplayTailBudget(1L << 30)));
        tail.StartAt(0);
        for (var sequence = 1; sequence <= 1500; sequence++)
        {
            Add(tail, sequence, 10);
        }

        var view = tail.View()!;
        for (var sequence = 1501; sequence <= 5000; sequence++)
        {
            Add(tail, sequence, 10);
        }

        Assert.Equal(Enumerable.Range(1, 1500).Select(n => (long)n), Sequences(view, 0));
        Assert.Equal((3001L, 5000L, 2000), (tail.First, tail.Through, tail.Count));
        Assert.Equal(Enumerable.Range(3001, 2000).Select(n => (long)n), Sequences(tail.View()!, 0));
    }

    [Fact]
    public void Should_cover_a_hole_the_hub_skipped_and_find_the_first_entry_at_or_after_a_sequence()
    {
        var tail = new ReplayTail(new TailLimits(1 << 20, new ReplayTailBudget(1 << 20)));
        tail.StartAt(0);
        Add(tail, 1, 1);
        Add(tail, 2, 1);
        Add(tail, 5, 1);
        tail.CoverThrough(7);

        var view = tail.View()!;
        Assert.Equal((1L, 7L, 3), (view.First, view.Through, view.Count));
        Assert.Equal(2, view.IndexOf(3));
        Assert.Equal(2, view.IndexOf(5));
        Assert.Equal(3, view.IndexOf(6));
        Assert.Equal(0, view.IndexOf(1));
    }

    [Fact]
    public void Should_share_the_nodes_budget_a_hub_over_it_dropping_its_own_oldest()
    {
        var node = new ReplayTailBudget(10L * (100 + Overhead));
        var first = new ReplayTail(new TailLimits(1L << 30, node));
        var second = new ReplayTail(new TailLimits(1L << 30, node));
        first.StartAt(0);
        second.StartAt(0);
        for (var sequence = 1; sequence <= 8; sequence++)
        {
            Add(first, sequence, 100);
        }

        for (var sequence = 1; sequence <= 5; sequence++)
        {
            Add(second, sequence, 100);
        }

        Assert.Equal(8, first.Count);
        Assert.Equal(2, second.Count);
        Assert.Equal((4L, 5L), (second.First, second.Through));
        Assert.Equal(node.MaxBytes, node.UsedBytes);

        first.Clear();
        Assert.Equal(2L * (100 + Overhead), node.UsedBytes);
        Assert.False(first.Started);
    }

    [Fact]
    public void Should_keep_nothing_the_journal_was_trimmed_of_even_when_handed_on_after_the_trim()
    {
        var tail = new ReplayTail(new TailLimits(1 << 20, new ReplayTailBudget(1 << 20)));
        tail.StartAt(0);
        for (var sequence = 1; sequence <= 5; sequence++)
        {
            Add(tail, sequence, 1);
        }

        tail.DropThrough(3);
        Assert.Equal((4L, 5L, 2), (tail.First, tail.Through, tail.Count));

        // A trim past the head: what the hub hands on up to it is not kept either.
        tail.DropThrough(7);
        Add(tail, 6, 1);
        Add(tail, 7, 1);
        Add(tail, 8, 1);
        Assert.Equal((8L, 8L, 1), (tail.First, tail.Through, tail.Count));
    }

    [Fact]
    public void Should_hold_nothing_of_a_patch_larger_than_its_limit_and_go_on_after_it()
    {
        var tail = new ReplayTail(new TailLimits(100 + Overhead, new ReplayTailBudget(1 << 20)));
        tail.StartAt(0);
        Add(tail, 1, 50);
        Add(tail, 2, 500);
        Assert.Equal((3L, 2L, 0, 0L), (tail.First, tail.Through, tail.Count, tail.Bytes));
        Add(tail, 3, 50);
        Assert.Equal((3L, 3L, 1), (tail.First, tail.Through, tail.Count));
    }

    private static void Add(ReplayTail tail, long sequence, int bytes)
    {
        var patch = new PatchAppended(sequence, "other", sequence, new byte[bytes], IsText: false);
        tail.Add(patch, PatchFrame.Of(patch));
    }

    private static IEnumerable<long> Sequences(ReplayTailView view, int from) =>
        Enumerable.Range(from, view.Count - from).Select(i => view[i].Patch.Sequence);
}
