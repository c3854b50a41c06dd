#nullable enable
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>How many rows a history read asks for at once: its rows times the largest patch seen stay within the budget.</summary>
public sealed class ReplayWindowSpecs
{
    private const long Budget = 4L * 1024 * 1024;
    private const int MaxMessage = 1024 * 1024;

    [Fact]
    public void Should_assume_patches_of_the_largest_size_for_the_first_window()
    {
        var window = new ReplayWindow(Budget, MaxMessage, maxRows: 5000);

        Assert.Equal(3, window.Rows);
        Assert.True(window.Rows * (long)MaxMessage <= Budget);
    }

    [Fact]
    public void Should_ask_for_as_many_rows_as_the_largest_patch_seen_allows_up_to_the_page()
    {
        var window = new ReplayWindow(Budget, MaxMessage, maxRows: 5000);
        window.Observe(Patch(1, bytes: 100 * 1024));
        Assert.InRange(window.Rows, 39, 40);

        window.Observe(Patch(2, bytes: 10));
        Assert.InRange(window.Rows, 39, 40);

        var small = new ReplayWindow(Budget, MaxMessage, maxRows: 5000);
        small.Observe(Patch(1, bytes: 10));
        Assert.Equal(5000, small.Rows);
    }

    [Fact]
    public void Should_shrink_when_a_larger_patch_turns_up()
    {
        var window = new ReplayWindow(Budget, MaxMessage, maxRows: 5000);
        window.Observe(Patch(1, bytes: 1000));
        window.Observe(Patch(2, bytes: MaxMessage));

        Assert.Equal(3, window.Rows);
    }

    [Fact]
    public void Should_ask_for_one_row_at_least_when_one_patch_exceeds_the_budget()
    {
        var window = new ReplayWindow(maxBufferedBytes: 1000, MaxMessage, maxRows: 5000);
        Assert.Equal(1, window.Rows);

        window.Observe(Patch(1, bytes: 5000));
        Assert.Equal(1, window.Rows);
    }

    private static PatchAppended Patch(long sequence, int bytes) => new(sequence, "c", sequence, new byte[bytes], IsText: false);
}
