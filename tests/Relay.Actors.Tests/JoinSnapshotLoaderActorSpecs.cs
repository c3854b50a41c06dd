#nullable enable
using Akka.Actor;
using Akka.Persistence;
using Relay.Actors.Compaction;
using Relay.Actors.Documents;
using Relay.Actors.History;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// Loading the snapshot a document's joiners start from, on the node's real snapshot store on SQLite; a probe stands
/// in for the hub that asks.
/// </summary>
public sealed class JoinSnapshotLoaderActorSpecs : RelaySpec
{
    private static readonly DocumentName Doc = DocumentName.Parse("specs/join-snapshot");

    public JoinSnapshotLoaderActorSpecs(ITestOutputHelper output) : base(output)
    {
    }

    [Fact]
    public void Should_make_a_compactable_snapshot_the_patch_replacing_the_root_with_the_named_clients_frames()
    {
        var state = new HistoryState(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted: true);
        state.Apply(new PatchAppended(1, "client/w", 7, Text("""[{"op":"add","path":["a"],"value":1}]"""), IsText: true));
        state.Apply(new PatchAppended(2, "raw-connection", 1, Text("""[{"op":"add","path":["b"],"value":2}]"""), IsText: true));

        var joinSnapshot = JoinSnapshotLoaderActor.Decode(state.ToSnapshot(), historyDeleted: true);

        Assert.NotNull(joinSnapshot);
        Assert.Equal(2, joinSnapshot.Sequence);
        Assert.Equal("""[{"op":"replace","path":[],"value":{"a":1,"b":2}}]""", TextOf(joinSnapshot.Patch));
        Assert.Equal(new Dictionary<string, long> { ["client/w"] = 7 }, joinSnapshot.Frames);
        Assert.True(joinSnapshot.HistoryDeleted);

        // No state to start from: the joiners replay the history.
        state.Apply(new PatchAppended(3, "client/w", 8, Text("not json"), IsText: true));
        Assert.Null(JoinSnapshotLoaderActor.Decode(state.ToSnapshot(), historyDeleted: true));
        Assert.Null(JoinSnapshotLoaderActor.Decode(null, historyDeleted: false));
    }

    [Fact]
    public async Task Should_answer_its_parent_with_the_latest_snapshot_at_or_before_the_sequence_asked_for()
    {
        await SaveAsync(3);
        await SaveAsync(5);
        var hub = CreateTestProbe();
        var loader = hub.ChildActorOf(JoinSnapshotLoaderActor.Props(Doc, historyDeleted: false));

        loader.Tell(new JoinSnapshotLoaderActor.Load(5));
        Assert.Equal(5, (await hub.ExpectMsgAsync<JoinSnapshotLoaderActor.Loaded>(Patience)).Snapshot?.Sequence);
        loader.Tell(new JoinSnapshotLoaderActor.Load(4));
        Assert.Equal(3, (await hub.ExpectMsgAsync<JoinSnapshotLoaderActor.Loaded>(Patience)).Snapshot?.Sequence);
        loader.Tell(new JoinSnapshotLoaderActor.Load(2));
        Assert.Null((await hub.ExpectMsgAsync<JoinSnapshotLoaderActor.Loaded>(Patience)).Snapshot);
    }

    private async Task SaveAsync(long sequence)
    {
        var state = new HistoryState(100, CompactionMode.Immer, "{}"u8.ToArray(), deleteCompacted: false);
        for (var s = 1L; s <= sequence; s++)
        {
            state.Apply(new PatchAppended(s, "client/w", s, Text($$"""[{"op":"add","path":["k"],"value":{{s}}}]"""), IsText: true));
        }

        Persistence.Instance.Apply(Sys).SnapshotStoreFor(null).Tell(new SaveSnapshot(new SnapshotMetadata(Doc.PersistenceId, sequence, DateTime.UtcNow), state.ToSnapshot()), TestActor);
        await ExpectMsgAsync<SaveSnapshotSuccess>(Patience);
    }
}
