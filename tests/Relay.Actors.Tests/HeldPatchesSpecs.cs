#nullable enable
using Relay.Actors.Fanout;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>The one buffer of live patches held while the journal is read, shared by the hubs and the connections.</summary>
public sealed class HeldPatchesSpecs
{
    [Fact]
    public void Should_hand_patches_out_in_sequence_order_each_once()
    {
        var held = new HeldPatches(new HeldLimits(10, 1024));
        Assert.True(held.TryHold(Patch(5, 10)));
        Assert.True(held.TryHold(Patch(3, 20)));
        Assert.True(held.TryHold(Patch(5, 10)));

        Assert.Equal((2, 30L, 3L), (held.Count, held.Bytes, held.First));
        Assert.Equal([3L, 5L], held.TakeAll().Select(patch => patch.Sequence));
        Assert.Equal((0, 0L), (held.Count, held.Bytes));
    }

    [Fact]
    public void Should_take_the_first_only_up_to_the_given_sequence()
    {
        var held = new HeldPatches(new HeldLimits(10, 1024));
        held.TryHold(Patch(4, 1));
        held.TryHold(Patch(6, 1));

        Assert.False(held.TryTakeFirst(3, out _));
        Assert.True(held.TryTakeFirst(4, out var first));
        Assert.Equal(4, first.Sequence);
        Assert.False(held.TryTakeFirst(5, out _));
        Assert.Equal((1, 1L), (held.Count, held.Bytes));
    }

    [Fact]
    public void Should_drop_what_lies_below_the_next_sequence()
    {
        var held = new HeldPatches(new HeldLimits(10, 1024));
        foreach (var sequence in new long[] { 1, 2, 3, 7 })
        {
            held.TryHold(Patch(sequence, 100));
        }

        held.DropBelow(3);

        Assert.Equal((2, 200L, 3L), (held.Count, held.Bytes, held.First));
    }

    [Fact]
    public void Should_drop_everything_past_the_count_limit()
    {
        var held = new HeldPatches(new HeldLimits(2, 1024));
        Assert.True(held.TryHold(Patch(1, 1)));
        Assert.True(held.TryHold(Patch(2, 1)));

        Assert.False(held.TryHold(Patch(3, 1)));
        Assert.Equal((0, 0L), (held.Count, held.Bytes));

        // Held again from scratch.
        Assert.True(held.TryHold(Patch(4, 1)));
        Assert.Equal(4, held.First);
    }

    [Fact]
    public void Should_drop_everything_past_the_byte_limit_including_a_patch_too_big_alone()
    {
        var held = new HeldPatches(new HeldLimits(100, 10));
        Assert.True(held.TryHold(Patch(1, 6)));
        Assert.False(held.TryHold(Patch(2, 6)));
        Assert.Equal(0, held.Count);

        Assert.False(held.TryHold(Patch(3, 11)));
        Assert.Equal(0, held.Count);
        Assert.True(held.TryHold(Patch(4, 10)));
    }

    [Fact]
    public void Should_hold_again_after_being_released()
    {
        var held = new HeldPatches(new HeldLimits(10, 1024));
        held.TryHold(Patch(1, 5));

        held.Release();

        Assert.Equal((0, 0L), (held.Count, held.Bytes));
        Assert.True(held.TryHold(Patch(2, 5)));
        Assert.Equal([2L], held.TakeAll().Select(patch => patch.Sequence));
    }

    [Fact]
    public void Should_take_its_byte_limit_from_the_replay_buffer_setting()
    {
        var options = new Relay.Actors.Hosting.RelayOptions();
        options.Replay.MaxBufferedBytes = 12345;

        Assert.Equal(new HeldLimits(HeldLimits.Default.MaxPatches, 12345), HeldLimits.From(options));
    }

    private static PatchAppended Patch(long sequence, int bytes) => new(sequence, "other", sequence, new byte[bytes], IsText: false);
}
