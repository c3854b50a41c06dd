using System.Runtime.CompilerServices;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using Relay.Actors.Documents;
using Relay.Actors.Messages;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>
/// The patches a sequencer published to a probe standing in for the mediator, one at a time: the patches of one write
/// come as one <see cref="PatchesAppended"/>, taken apart here in order.
/// </summary>
internal static class PublishedPatches
{
    private static readonly ConditionalWeakTable<TestProbe, Queue<PatchAppended>> Pending = new();

    /// <summary>The next patch published on <paramref name="document"/>'s topic, alone or in a group.</summary>
    public static async Task<PatchAppended> ExpectPublishedPatchAsync(this TestProbe publisher, DocumentName document, TimeSpan patience)
    {
        var pending = Pending.GetOrCreateValue(publisher);
        if (pending.Count == 0)
        {
            var publish = await publisher.ExpectMsgAsync<Publish>(patience);
            Assert.Equal(document.Topic, publish.Topic);
            var patches = publish.Message switch
            {
                PatchAppended patch => [patch],
                PatchesAppended group => group.Patches,
                var other => throw new Xunit.Sdk.XunitException($"Expected published patches, got {other}"),
            };
            Assert.NotEmpty(patches);
            foreach (var patch in patches)
            {
                pending.Enqueue(patch);
            }
        }

        return pending.Dequeue();
    }
}
