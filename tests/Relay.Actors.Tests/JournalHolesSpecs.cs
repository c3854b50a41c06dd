#nullable enable
using Relay.Actors.Documents;
using Relay.Actors.Journal;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>The node's register of holes in the journal, without a journal: the spec reports gaps and plays the clock.</summary>
public sealed class JournalHolesSpecs
{
    private static readonly TimeSpan SkipAfter = TimeSpan.FromSeconds(5);
    private static readonly DocumentName Doc = DocumentName.Parse("specs/holes");
    private static readonly DocumentName Other = DocumentName.Parse("specs/other");

    [Fact]
    public void Should_wait_on_a_gap_until_it_has_lasted_the_timeout_then_declare_it_once()
    {
        var holes = new JournalHoles();

        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 1_000, SkipAfter));
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 3_000, SkipAfter));
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 5_999, SkipAfter));
        Assert.Empty(holes.Holes);

        Assert.Equal(GapVerdict.SkipNewHole, holes.Observe(Doc, 150, 150, nowMs: 6_000, SkipAfter));
        Assert.Equal([new JournalHole(Doc, 150, 150)], holes.Holes);

        // Every later reader skips it at once, and it is declared (logged, counted) no more.
        Assert.Equal(GapVerdict.Skip, holes.Observe(Doc, 150, 150, nowMs: 6_001, SkipAfter));
        Assert.Equal(GapVerdict.Skip, holes.Observe(Doc, 150, 150, nowMs: 60_000, SkipAfter));
        Assert.Equal(1, holes.Count);
    }

    [Fact]
    public void Should_share_one_clock_among_the_readers_of_a_gap()
    {
        var holes = new JournalHoles();
        holes.Observe(Doc, 150, 150, nowMs: 1_000, SkipAfter);

        // A second reader meets the gap later: the gap's age counts, not the reader's.
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 4_000, SkipAfter));
        Assert.Equal(GapVerdict.SkipNewHole, holes.Observe(Doc, 150, 150, nowMs: 6_500, SkipAfter));
    }

    [Fact]
    public void Should_skip_a_gap_inside_a_known_hole_but_not_one_that_reaches_past_it()
    {
        var holes = WithHole(10, 20);

        Assert.Equal(GapVerdict.Skip, holes.Observe(Doc, 12, 20, nowMs: 5_001, SkipAfter));
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 10, 25, nowMs: 5_001, SkipAfter));
    }

    [Fact]
    public void Should_keep_the_holes_of_each_document_apart()
    {
        var holes = WithHole(150, 150);

        Assert.Equal(GapVerdict.Wait, holes.Observe(Other, 150, 150, nowMs: 5_001, SkipAfter));
    }

    [Fact]
    public void Should_start_the_clock_anew_for_a_gap_nobody_reported_for_a_whole_timeout()
    {
        var holes = new JournalHoles();
        holes.Observe(Doc, 150, 150, nowMs: 0, SkipAfter);

        // Its rows were committed after all, or its readers left; a gap met again much later is new.
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 20_000, SkipAfter));
        Assert.Equal(GapVerdict.Wait, holes.Observe(Doc, 150, 150, nowMs: 24_999, SkipAfter));
        Assert.Equal(GapVerdict.SkipNewHole, holes.Observe(Doc, 150, 150, nowMs: 25_000, SkipAfter));
    }

    // A register where from..to of Doc was declared a hole at 5 s.
    private static JournalHoles WithHole(long from, long to)
    {
        var holes = new JournalHoles();
        holes.Observe(Doc, from, to, nowMs: 0, SkipAfter);
        Assert.Equal(GapVerdict.SkipNewHole, holes.Observe(Doc, from, to, nowMs: 5_000, SkipAfter));
        return holes;
    }
}
