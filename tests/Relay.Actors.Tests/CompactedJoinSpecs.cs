#nullable enable
using System.Runtime.InteropServices;
using Akka.Actor;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>
/// Joining a compacted document on a real node (real sequencer, snapshot store and journal on SQLite, real hub and
/// connections): the hub loads the snapshot its sequencer names once and every joiner shares it, and each joiner
/// starts from it, a named client with the cumulative ack of its folded patches.
/// </summary>
public sealed class CompactedJoinSpecs : RelaySpec
{
    private const int Joiners = 20;
    private static readonly DocumentName Doc = DocumentName.Parse("specs/compacted");

    public CompactedJoinSpecs(ITestOutputHelper output)
        : base(output, configure: options =>
        {
            options.Compaction.Mode = "immer";
            options.Compaction.SnapshotFloorBytes = 256;
        })
    {
    }

    [Fact]
    public async Task Should_load_the_snapshot_once_for_twenty_joiners_at_once_and_start_each_from_it()
    {
        var sequencers = Node.Registry.Get<HistoryProxy>();
        var writer = CreateTestProbe();
        var frame = 0L;
        async Task WriteAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                frame++;
                sequencers.Tell(new AppendPatch(Doc, "client/w", frame, frame, Text($$"""[{"op":"replace","path":["k{{frame % 3}}"],"value":"{{new string('v', 40)}}{{frame}}"}]"""), IsText: true), writer.Ref);
                await writer.ExpectMsgAsync<AppendPatchResponse>(Patience);
            }
        }

        await WriteAsync(20);
        var snapshot = 0L;
        await AwaitAssertAsync(async () =>
        {
            snapshot = (await sequencers.Ask<DocumentOpened>(new OpenDocument(Doc), Patience)).JoinSnapshot;
            Assert.True(snapshot > 0, "no snapshot yet");
        }, Patience, TimeSpan.FromMilliseconds(50));
        var head = frame;

        var hubs = Node.Registry.Get<DocumentHubsActor>();
        var opening = Enumerable.Range(0, Joiners).Select(async i =>
        {
            var link = new ClientLink(1024 * 1024, 16, maxEphemeralBytes: 1024);
            var protocol = i == 0 ? new ClientProtocol(Enveloped: true, ClientId: "w") : ClientProtocol.Raw;
            await hubs.Ask<DocumentHubActor.ConnectionOpened>(
                new DocumentHubsActor.OpenConnection(Doc, new DocumentHubActor.OpenConnection($"joiner-{i}", link, ConnectionSettings.Default, protocol)), Patience);
            return link;
        }).ToList();
        var links = await Task.WhenAll(opening);

        // The named client that wrote everything: hello, the snapshot numbered with its sequence number, the ack of
        // its last frame in it, then its own later patches as acks.
        var v1 = links[0];
        await v1.ReadSentAsync<HelloFrame>(Patience);
        var first = await v1.ReadSentAsync<PatchFrame>(Patience);
        // A later snapshot may have been saved since the sequencer named that one: the joiners get the latest.
        Assert.InRange(first.Sequence, snapshot, head);
        snapshot = first.Sequence;
        Assert.Equal(new AckFrame(snapshot, snapshot), await v1.ReadSentAsync(Patience));
        for (var sequence = snapshot + 1; sequence <= head; sequence++)
        {
            Assert.Equal(sequence, (await v1.ReadSentAsync<AckFrame>(Patience)).Sequence);
        }

        // Every raw joiner: the one replacing patch, the very same bytes in memory for all of them, then the tail.
        Assert.True(MemoryMarshal.TryGetArray(first.Payload, out var shared));
        Assert.StartsWith("""[{"op":"replace","path":[],"value":{""", TextOf(first.Payload));
        foreach (var link in links.Skip(1))
        {
            var replace = await link.ReadSentAsync<PatchFrame>(Patience);
            Assert.True(MemoryMarshal.TryGetArray(replace.Payload, out var bytes));
            Assert.Same(shared.Array, bytes.Array);
            for (var sequence = snapshot + 1; sequence <= head; sequence++)
            {
                Assert.Equal(sequence, (await link.ReadSentAsync<PatchFrame>(Patience)).Sequence);
            }

            Assert.False(await link.BecomesReadableWithinAsync(TimeSpan.FromMilliseconds(50)));
        }
    }
}
