#nullable enable
using System.Runtime.Serialization;
using Relay.Actors.Documents;
using Relay.Actors.Messages;
using Relay.Actors.Serialization;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>
/// The wire and journal format: every message survives a round trip through Akka's serialization, as a node wired
/// by <c>WithRelay</c> binds it. The specs only read the node's serialization, so they share one node.
/// </summary>
public sealed class RelaySerializerSpecs : IClassFixture<SharedSpecNode>
{
    public RelaySerializerSpecs(SharedSpecNode node)
    {
        Sys = node.Node.System;
    }

    private Akka.Actor.ActorSystem Sys { get; }

    public static TheoryData<IRelayMessage, string> MessagesAndManifests => new()
    {
        { new AppendPatch(DocumentName.Default, "conn-1", 3, 2, Text("{\"op\":\"add\"}"), IsText: true), "A" },
        { new AppendPatch(DocumentName.Parse("gifts/family-2026"), "conn-1", 3, 2, Text("{\"op\":\"add\"}"), IsText: true), "A" },
        { new AppendPatch(DocumentName.Parse("boards/b1"), "api/0f3a", 1, 1, Text("[]"), IsText: true) { ExpectedHead = 0, FromApi = true }, "A" },
        { new AppendPatch(DocumentName.Parse("boards/b1"), "api/0f3a", 1, 1, Text("[]"), IsText: true) { ExpectedHead = 41, FromApi = true }, "A" },
        { new AppendPatchResponse("conn-1", 3, 42), "AR" },
        { new AppendPatchResponse("api/0f3a", 1, 42) { Outcome = AppendOutcome.HeadMoved, Epoch = unchecked((long)0x9f3c0e1a7b2d4c65) }, "AR" },
        { new AppendPatchResponse("client/b", 3, 42) { Outcome = AppendOutcome.OutOfOrder, JournaledFrame = 1, Epoch = 7 }, "AR" },
        { new AppendPatchResponse("client/tab1", 3, 42) { Outcome = AppendOutcome.Behind, JournaledFrame = 60 }, "AR" },
        { new AppendPatchResponse("client/tab1", 60, 42) { Outcome = AppendOutcome.Conflict, JournaledFrame = 60 }, "AR" },
        { new OpenDocument(DocumentName.Parse("a/b.c")) { Client = "client/tab1" }, "O" },
        { new DocumentOpened(DocumentName.Parse("a/b.c"), 42, 7) { ClientLastFrame = 60 }, "OR" },
        { new HistorySnapshot(42, [new ConnectionCursor("client/tab1", 60, 42, PayloadHash: -3)], 7), "S" },
        { new PatchAppended(42, "conn-1", 3, new byte[] { 0, 1, 2, 255 }, IsText: false), "P" },
        { new HistoryHeartbeat(42), "H" },
        { new HistoryHeartbeat(42, -7_000_000_000_000_000_001), "H" },
        { new PatchAppended(1, "client/tab1", 9, new byte[] { 7 }, IsText: false) { Epoch = -1 }, "P" },
        {
            new PatchesAppended([
                new PatchAppended(1, "client/tab1", 9, new byte[] { 7 }, IsText: false) { Epoch = -1 },
                new PatchAppended(2, "conn-2", 1, Text("[{\"op\":\"add\"}]"), IsText: true),
                new PatchAppended(3, "conn-2", 2, ReadOnlyMemory<byte>.Empty, IsText: true),
            ]),
            "PS"
        },
        { new OpenDocument(DocumentName.Default), "O" },
        { new OpenDocument(DocumentName.Parse("a/b.c")), "O" },
        { new DocumentOpened(DocumentName.Parse("a/b.c"), 42), "OR" },
        { new DocumentOpened(DocumentName.Parse("a/b.c"), 42, long.MaxValue), "OR" },
        { new HistorySnapshot(42, [new ConnectionCursor("conn-1", 3, 42), new ConnectionCursor("conn-2", 7, 40)]), "S" },
        { new HistorySnapshot(42, [new ConnectionCursor("client/tab1", 3, 42)], long.MinValue), "S" },
        { new HistoryHeartbeat(42, 7) { JoinSnapshot = 40 }, "H" },
        { new DocumentOpened(DocumentName.Parse("a/b.c"), 42, 7) { JoinSnapshot = 40 }, "OR" },
        { new HistorySnapshot(42, [new ConnectionCursor("client/tab1", 3, 42)], 7) { CompactionMode = Compaction.CompactionMode.Immer, State = Text("{\"a\":[1]}"), Compactable = true }, "S" },
        { new HistorySnapshot(42, [], 7) { CompactionMode = Compaction.CompactionMode.JsonPatch, NotCompactableReason = "not JSON", JoinSnapshot = 30 }, "S" },
        { new HistorySnapshot(42, [], 7) { CompactionMode = Compaction.CompactionMode.Immer, State = Text("{}"), Compactable = true, TrimmedThrough = 41 }, "S" },
        { new HistoryHeartbeat(42, 7) { JoinSnapshot = 40, TrimmedThrough = 39 }, "H" },
        { new DocumentOpened(DocumentName.Parse("a/b.c"), 42, 7) { JoinSnapshot = 40, TrimmedThrough = 39 }, "OR" },
        { new DeleteHistory(DocumentName.Parse("boards/b1")), "D" },
        { new TrimHistory(DocumentName.Parse("boards/b1"), 40), "T" },
        { new TrimHistory(DocumentName.Parse("boards/b1"), 40) { UpToSnapshot = true }, "T" },
        { new HistoryEdited(DocumentName.Parse("boards/b1"), HistoryEditOutcome.Done, 39) { Head = 42, Epoch = long.MinValue, JoinSnapshot = 40 }, "E" },
        { new HistoryEdited(DocumentName.Parse("boards/b1"), HistoryEditOutcome.NotKept, 0) { Head = 42, Reason = "no snapshot" }, "E" },
        {
            new PresenceGossip(
                DocumentName.Parse("gifts"),
                "akka.tcp://relay@127.0.0.1:4053",
                [new Presence.PresenceEntry("tab1", "anna", Text("{\"cursor\":[3,5]}"), "akka.tcp://relay@127.0.0.1:4053", 638_000_000_000_000_001)],
                [new Presence.PresenceEntry("tab2", "bob", ReadOnlyMemory<byte>.Empty, "akka.tcp://relay@127.0.0.1:4053", 7)]),
            "PG"
        },
        { new PresenceGossip(DocumentName.Default, "akka.tcp://relay@127.0.0.1:4054", [], []) { Heartbeat = true, AskBack = true }, "PG" },
        { new PresenceBroadcast(DocumentName.Parse("gifts"), "akka.tcp://relay@127.0.0.1:4053", "tab1", "anna", Text("{\"cursor\":[3,5]}"), true), "PB" },
        { new PresenceBroadcast(DocumentName.Default, "akka.tcp://relay@127.0.0.1:4053", "_0123456789abcdef", "_0123456789abcdef", new byte[] { 0, 255 }, false), "PB" },
    };

    [Theory]
    [MemberData(nameof(MessagesAndManifests))]
    public void Should_bind_every_relay_message_to_the_relay_serializer_with_a_stable_manifest(IRelayMessage message, string manifest)
    {
        var serializer = Sys.Serialization.FindSerializerFor(message);

        var relay = Assert.IsType<RelaySerializer>(serializer);
        Assert.Equal(RelaySerializer.SerializerId, relay.Identifier);
        Assert.Equal(manifest, relay.Manifest(message));
    }

    [Theory]
    [MemberData(nameof(MessagesAndManifests))]
    public void Should_round_trip_every_message(IRelayMessage message, string manifest)
    {
        var bytes = Sys.Serialization.FindSerializerFor(message).ToBinary(message);

        var restored = Sys.Serialization.Deserialize(bytes, RelaySerializer.SerializerId, manifest);

        AssertSame(message, restored);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_keep_a_one_mebibyte_payload_and_its_text_flag_intact(bool isText)
    {
        var payload = new byte[1024 * 1024];
        new Random(4711).NextBytes(payload);
        var append = new AppendPatch(DocumentName.Parse("big"), "conn-big", 1, 1, payload, isText);
        var patch = new PatchAppended(9, "conn-big", 1, payload, isText);

        AssertSame(append, RoundTrip(append));
        AssertSame(patch, RoundTrip(patch));
    }

    [Fact]
    public void Should_keep_an_empty_payload_empty()
    {
        var patch = new PatchAppended(1, "conn-1", 1, ReadOnlyMemory<byte>.Empty, IsText: true);

        var restored = Assert.IsType<PatchAppended>(RoundTrip(patch));

        Assert.Equal(0, restored.Payload.Length);
        Assert.True(restored.IsText);
    }

    [Fact]
    public void Should_throw_on_an_unknown_manifest()
    {
        var serializer = new RelaySerializer((Akka.Actor.ExtendedActorSystem)Sys);

        Assert.Throws<SerializationException>(() => serializer.FromBinary([1, 2, 3], "Z"));
    }

    [Fact]
    public void Should_refuse_to_serialize_a_foreign_message()
    {
        var serializer = new RelaySerializer((Akka.Actor.ExtendedActorSystem)Sys);

        Assert.Throws<ArgumentException>(() => serializer.ToBinary("not a relay message"));
        Assert.Throws<ArgumentException>(() => serializer.Manifest("not a relay message"));
    }

    private object RoundTrip(IRelayMessage message)
    {
        var serializer = (RelaySerializer)Sys.Serialization.FindSerializerFor(message);
        return serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message));
    }

    // Records compare ReadOnlyMemory and lists by reference, so the contents are compared here.
    private static void AssertSame(IRelayMessage expected, object actual)
    {
        switch (expected)
        {
            case AppendPatch e:
            {
                var a = Assert.IsType<AppendPatch>(actual);
                Assert.Equal((e.Document, e.ConnectionId, e.FrameNo, e.FirstUnconfirmed, e.IsText), (a.Document, a.ConnectionId, a.FrameNo, a.FirstUnconfirmed, a.IsText));
                Assert.Equal((e.ExpectedHead, e.FromApi), (a.ExpectedHead, a.FromApi));
                Assert.True(e.Payload.Span.SequenceEqual(a.Payload.Span), "payload bytes differ");
                break;
            }

            case PatchAppended e:
            {
                var a = Assert.IsType<PatchAppended>(actual);
                Assert.Equal((e.Sequence, e.OriginConnectionId, e.FrameNo, e.IsText, e.Epoch), (a.Sequence, a.OriginConnectionId, a.FrameNo, a.IsText, a.Epoch));
                Assert.True(e.Payload.Span.SequenceEqual(a.Payload.Span), "payload bytes differ");
                break;
            }

            case PatchesAppended e:
            {
                var a = Assert.IsType<PatchesAppended>(actual);
                Assert.Equal(e.Patches.Count, a.Patches.Count);
                foreach (var (expectedPatch, actualPatch) in e.Patches.Zip(a.Patches))
                {
                    AssertSame(expectedPatch, actualPatch);
                }

                break;
            }

            case HistorySnapshot e:
            {
                var a = Assert.IsType<HistorySnapshot>(actual);
                Assert.Equal((e.LastSequence, e.Epoch, e.CompactionMode, e.Compactable, e.NotCompactableReason, e.JoinSnapshot, e.TrimmedThrough), (a.LastSequence, a.Epoch, a.CompactionMode, a.Compactable, a.NotCompactableReason, a.JoinSnapshot, a.TrimmedThrough));
                Assert.Equal(e.Cursors, a.Cursors);
                Assert.True(e.State.Span.SequenceEqual(a.State.Span), "state bytes differ");
                break;
            }

            case PresenceGossip e:
            {
                var a = Assert.IsType<PresenceGossip>(actual);
                Assert.Equal((e.Document, e.Node, e.Heartbeat, e.AskBack), (a.Document, a.Node, a.Heartbeat, a.AskBack));
                Assert.Equal(Describe(e.Present), Describe(a.Present));
                Assert.Equal(Describe(e.Left), Describe(a.Left));
                break;
            }

            case PresenceBroadcast e:
            {
                var a = Assert.IsType<PresenceBroadcast>(actual);
                Assert.Equal((e.Document, e.Node, e.Client, e.User, e.IsText), (a.Document, a.Node, a.Client, a.User, a.IsText));
                Assert.Equal(e.Payload.ToArray(), a.Payload.ToArray());
                break;
            }

            default:
                Assert.Equal(expected, actual);
                break;
        }
    }

    private static string[] Describe(IEnumerable<Presence.PresenceEntry> entries) =>
        entries.Select(e => $"{e.Client}|{e.User}|{System.Text.Encoding.UTF8.GetString(e.State.Span)}|{e.Node}|{e.Incarnation}").ToArray();

    private static ReadOnlyMemory<byte> Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);
}
