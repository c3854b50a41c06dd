#nullable enable
using System.Text;
using Relay.Actors.Compaction;
using Relay.Actors.History;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>When the sequencer snapshots, as its state counts the patches journaled, replayed and snapshot; without an actor.</summary>
public sealed class SnapshotCadenceSpecs
{
    [Fact]
    public void Should_be_due_every_n_patches_counted_from_the_last_snapshot()
    {
        var state = new HistoryState(100, CompactionMode.None, ReadOnlyMemory<byte>.Empty, deleteCompacted: false, new SnapshotCadence(3, 1_000_000, 0));

        Assert.Equal([false, false, true], Enumerable.Range(1, 3).Select(sequence => AppliedAndDue(state, Plain(sequence, 10))));
        state.ToSnapshot();
        Assert.Equal((3L, 0L), (state.Cadence.LastSnapshotSequence, state.Cadence.TailBytes));
        Assert.Equal([false, false, true], Enumerable.Range(4, 3).Select(sequence => AppliedAndDue(state, Plain(sequence, 10))));
    }

    [Fact]
    public void Should_be_due_once_the_payloads_since_the_last_snapshot_reach_the_byte_bound()
    {
        var state = new HistoryState(100, CompactionMode.None, ReadOnlyMemory<byte>.Empty, deleteCompacted: false, new SnapshotCadence(1_000, 10_000, 0));

        // 3 x 4,000 bytes reach the bound; after the snapshot, 2 x 4,000 do not yet.
        Assert.Equal([false, false, true], Enumerable.Range(1, 3).Select(sequence => AppliedAndDue(state, Plain(sequence, 4_000))));
        state.ToSnapshot();
        Assert.Equal([false, false, true], Enumerable.Range(4, 3).Select(sequence => AppliedAndDue(state, Plain(sequence, 4_000))));
    }

    [Fact]
    public void Should_wait_for_payloads_as_large_as_the_last_snapshot_when_that_is_larger_than_the_byte_bound()
    {
        // Many connections make a snapshot far larger than the byte bound of 100.
        var cadence = new SnapshotCadence(1_000, 100, 0);
        var state = new HistoryState(1_000, CompactionMode.None, ReadOnlyMemory<byte>.Empty, deleteCompacted: false, cadence);
        for (var sequence = 1; sequence <= 50; sequence++)
        {
            state.Apply(new PatchAppended(sequence, $"a-connection-with-a-long-name-{sequence}", 1, new byte[1], IsText: false));
        }

        state.ToSnapshot();
        var snapshotBytes = cadence.LastSnapshotBytes;
        Assert.Equal(state.ApproximateSnapshotBytes, snapshotBytes);
        Assert.True(snapshotBytes > 1_000, $"the snapshot is only {snapshotBytes} bytes");

        var sequenceNo = 50L;
        while (cadence.TailBytes + 100 < snapshotBytes)
        {
            Assert.False(AppliedAndDue(state, Plain(++sequenceNo, 100)));
        }

        Assert.True(AppliedAndDue(state, Plain(++sequenceNo, 100)));
    }

    [Fact]
    public void Should_count_from_the_snapshot_recovered_from_and_the_patches_replayed_after_it()
    {
        var written = new HistoryState();
        for (var sequence = 1; sequence <= 10; sequence++)
        {
            written.Apply(Plain(sequence, 10));
        }

        var snapshot = written.ToSnapshot();
        var recovered = new HistoryState(100, CompactionMode.None, ReadOnlyMemory<byte>.Empty, deleteCompacted: false, new SnapshotCadence(5, 1_000_000, 0));
        recovered.Restore(snapshot);
        Assert.Equal((10L, recovered.ApproximateSnapshotBytes, 0L), (recovered.Cadence.LastSnapshotSequence, recovered.Cadence.LastSnapshotBytes, recovered.Cadence.TailBytes));

        for (var sequence = 11; sequence <= 14; sequence++)
        {
            recovered.Apply(Plain(sequence, 10));
        }

        Assert.Equal(40, recovered.Cadence.TailBytes);
        Assert.False(recovered.SnapshotDue());
        Assert.True(AppliedAndDue(recovered, Plain(15, 10)));
    }

    [Fact]
    public void Should_snapshot_a_compactable_document_by_the_size_of_its_state_never_below_the_floor_and_by_count_once_it_no_longer_folds()
    {
        // A count of 1 would snapshot after every patch: a compactable document ignores it.
        var state = new HistoryState(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted: false, new SnapshotCadence(1, 1, 1_000));
        var patch = Replace("k", new string('v', 60));
        var patchBytes = Encoding.UTF8.GetByteCount(patch);
        var sequence = 0L;
        while (state.Cadence.TailBytes + patchBytes < 1_000)
        {
            // Each patch is larger than the whole state: only the floor holds the snapshot back.
            Assert.False(AppliedAndDue(state, Immer(++sequence, patch)));
            Assert.True(state.Fold!.StateUtf8()!.Length < patchBytes);
        }

        Assert.True(AppliedAndDue(state, Immer(++sequence, patch)));
        state.ToSnapshot();

        state.Apply(Immer(++sequence, "not json"));
        Assert.False(state.Compactable);
        Assert.True(state.SnapshotDue());
    }

    [Fact]
    public void Should_snapshot_a_compactable_document_once_the_tail_is_as_large_as_the_state()
    {
        var written = new HistoryState(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted: false);
        written.Apply(Immer(1, Replace("text", new string('x', 2_000))));

        // From a snapshot of the large state, small patches come due only once they add up to its size.
        var recovered = new HistoryState(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted: false, new SnapshotCadence(1, 1, 0));
        recovered.Restore(written.ToSnapshot());
        var patch = Replace("k", "v");
        var patchBytes = Encoding.UTF8.GetByteCount(patch);
        Assert.False(AppliedAndDue(recovered, Immer(2, patch)));
        var stateBytes = recovered.Fold!.StateUtf8()!.Length;
        Assert.True(stateBytes > 2_000);
        var sequence = 2L;
        while (recovered.Cadence.TailBytes + patchBytes < stateBytes)
        {
            Assert.False(AppliedAndDue(recovered, Immer(++sequence, patch)));
        }

        Assert.True(AppliedAndDue(recovered, Immer(++sequence, patch)));
    }

    private static bool AppliedAndDue(HistoryState state, PatchAppended patch)
    {
        state.Apply(patch);
        return state.SnapshotDue();
    }

    private static string Replace(string key, string value) => $$"""[{"op":"add","path":["{{key}}"],"value":"{{value}}"}]""";

    private static PatchAppended Plain(long sequence, int bytes) =>
        new(sequence, "conn-a", sequence, new byte[bytes], IsText: false);

    private static PatchAppended Immer(long sequence, string patch) =>
        new(sequence, "conn-a", sequence, Encoding.UTF8.GetBytes(patch), IsText: true);
}
