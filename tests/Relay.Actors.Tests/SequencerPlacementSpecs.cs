#nullable enable
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit;
using Microsoft.Data.Sqlite;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Actors.Tests;

/// <summary>The documents' sequencers under the cluster singleton.</summary>
public sealed class SingletonSequencerPlacementSpecs(ITestOutputHelper output) : SequencerPlacementSpecs(output, "singleton");

/// <summary>The documents' sequencers as Akka.Cluster.Sharding entities.</summary>
public sealed class ShardedSequencerPlacementSpecs(ITestOutputHelper output) : SequencerPlacementSpecs(output, "sharded");

/// <summary>
/// The documents' sequencers as the node places them, reached only through <see cref="HistoryProxy"/> and
/// heard only on their topics through the node's real mediator; the same specs for either placement. Sequencers
/// passivate after a second here, so that a spec can watch one do it.
/// </summary>
public abstract class SequencerPlacementSpecs : RelaySpec
{
    private static readonly TimeSpan PassivateAfter = TimeSpan.FromSeconds(1);
    private readonly IActorRef _sequencers;

    protected SequencerPlacementSpecs(ITestOutputHelper output, string placement)
        : base(output, placement, options => options.Documents.PassivateAfter = PassivateAfter)
    {
        _sequencers = Node.Registry.Get<HistoryProxy>();
    }

    [Fact]
    public async Task Should_number_each_documents_patches_from_one_and_publish_them_only_on_its_own_topic()
    {
        var notes = DocumentName.Parse("notes");
        var gifts = DocumentName.Parse("gifts/2026");
        var notesTopic = await SubscribeAsync(notes);
        var giftsTopic = await SubscribeAsync(gifts);

        Assert.Equal(1, (await AppendAsync(notes, "a", 1, "n1")).Sequence);
        Assert.Equal(1, (await AppendAsync(gifts, "a", 1, "g1")).Sequence);
        Assert.Equal(2, (await AppendAsync(notes, "a", 2, "n2")).Sequence);
        Assert.Equal(3, (await AppendAsync(notes, "b", 1, "n3")).Sequence);
        Assert.Equal(2, (await AppendAsync(gifts, "b", 1, "g2")).Sequence);

        Assert.Equal([(1L, "n1"), (2L, "n2"), (3L, "n3")], await ReceivePatchesAsync(notesTopic, 3));
        Assert.Equal([(1L, "g1"), (2L, "g2")], await ReceivePatchesAsync(giftsTopic, 2));
        await Task.WhenAll(notesTopic.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)).AsTask(), giftsTopic.ExpectNoMsgAsync(TimeSpan.FromMilliseconds(300)).AsTask());
        Assert.Equal(["n1", "n2", "n3"], (await ReadJournalAsync(notes)).Select(p => TextOf(p.Payload)));
        Assert.Equal(["g1", "g2"], (await ReadJournalAsync(gifts)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_answer_open_document_with_the_documents_head()
    {
        var notes = DocumentName.Parse("notes");
        var gifts = DocumentName.Parse("gifts");

        Assert.Equal((notes, 0L), Head(await OpenAsync(notes)));
        for (var frame = 1; frame <= 3; frame++)
        {
            await AppendAsync(notes, "a", frame, $"n{frame}");
        }

        Assert.Equal((notes, 3L), Head(await OpenAsync(notes)));
        Assert.Equal((gifts, 0L), Head(await OpenAsync(gifts)));
    }

    [Fact]
    public async Task Should_confirm_a_resent_frame_with_its_original_sequence_and_journal_it_once_per_document()
    {
        var notes = DocumentName.Parse("notes");
        var gifts = DocumentName.Parse("gifts");
        await AppendAsync(notes, "a", 1, "n1");
        await AppendAsync(notes, "b", 1, "n2");

        // The same connection and frame number in another document is another frame.
        Assert.Equal(new AppendPatchResponse("b", 1, 1), await AppendAsync(gifts, "b", 1, "g1"));
        Assert.Equal(new AppendPatchResponse("b", 1, 2), await AppendAsync(notes, "b", 1, "n2"));
        Assert.Equal(new AppendPatchResponse("a", 1, 1), await AppendAsync(notes, "a", 1, "n1"));

        Assert.Equal(["n1", "n2"], (await ReadJournalAsync(notes)).Select(p => TextOf(p.Payload)));
        Assert.Equal(["g1"], (await ReadJournalAsync(gifts)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_passivate_an_idle_documents_sequencer_and_continue_its_numbering_and_deduplication()
    {
        var notes = DocumentName.Parse("notes");
        await AppendAsync(notes, "a", 1, "n1");
        await AppendAsync(notes, "a", 2, "n2");

        // The sequencer that answered stops once idle (watched, not looked for after a time: on a busy machine the
        // second of idleness can pass before a look), and is no longer listed where sequencers run.
        var first = LastSender;
        Watch(first);
        await ExpectTerminatedAsync(first, Patience);
        Assert.DoesNotContain(notes, Node.Status.Sequencers);

        // The next message starts it again from the journal: the resend is recognised, the next frame numbered on,
        // by a new sequencer.
        Assert.Equal(new AppendPatchResponse("a", 2, 2), await AppendAsync(notes, "a", 2, "n2", firstUnconfirmed: 2));
        Assert.NotEqual(first, LastSender);
        Assert.Equal(new AppendPatchResponse("a", 3, 3), await AppendAsync(notes, "a", 3, "n3", firstUnconfirmed: 3));
        Assert.Equal(["n1", "n2", "n3"], (await ReadJournalAsync(notes)).Select(p => TextOf(p.Payload)));
    }

    [Fact]
    public async Task Should_never_passivate_the_default_documents_sequencer()
    {
        var other = DocumentName.Parse("other");
        _sequencers.Tell(new OpenDocument(DocumentName.Default));
        await ExpectMsgAsync<DocumentOpened>(Patience);
        var sequencer = LastSender;
        Watch(sequencer);

        // Twice as long idle as another document's sequencer takes to passivate.
        for (var frame = 1; frame <= 2; frame++)
        {
            await AppendAsync(other, "a", frame, $"o{frame}");
            await AwaitAssertAsync(() => Assert.DoesNotContain(other, Node.Status.Sequencers), Patience, TimeSpan.FromMilliseconds(100));
        }

        Assert.Contains(DocumentName.Default, Node.Status.Sequencers);
        await ExpectNoMsgAsync(TimeSpan.FromMilliseconds(100));
        Assert.Equal((DocumentName.Default, 0L), Head(await OpenAsync(DocumentName.Default)));
        Assert.Equal(sequencer, LastSender);
    }

    [Fact]
    public async Task Should_journal_the_default_document_under_the_persistence_id_relay_history()
    {
        await AppendAsync(DocumentName.Default, "a", 1, "d1");
        await AppendAsync(DocumentName.Default, "a", 2, "d2");
        await AppendAsync(DocumentName.Parse("notes"), "a", 1, "n1");

        var rows = ReadJournalRows();
        Assert.Equal([1L, 2L], rows.Where(r => r.PersistenceId == "relay-history").Select(r => r.Sequence));
        Assert.Equal([1L], rows.Where(r => r.PersistenceId == "relay-history/notes").Select(r => r.Sequence));
        // Besides the node's own journal warm-up, nothing else.
        Assert.Equal(
            ["relay-history", "relay-history/notes"],
            rows.Select(r => r.PersistenceId).Where(id => !id.StartsWith(JournalWarmUp.PersistenceIdPrefix, StringComparison.Ordinal)).Distinct().Order());
    }

    private async Task<AppendPatchResponse> AppendAsync(DocumentName document, string connection, long frame, string text, long? firstUnconfirmed = null)
    {
        _sequencers.Tell(new AppendPatch(document, connection, frame, firstUnconfirmed ?? frame, Text(text), IsText: true));
        return await ExpectMsgAsync<AppendPatchResponse>(Patience);
    }

    private static (DocumentName Document, long LastSequence) Head(DocumentOpened opened) => (opened.Document, opened.LastSequence);

    private async Task<DocumentOpened> OpenAsync(DocumentName document)
    {
        _sequencers.Tell(new OpenDocument(document));
        return await ExpectMsgAsync<DocumentOpened>(Patience);
    }

    /// <summary>A probe subscribed to <paramref name="document"/>'s topic through the node's mediator; heartbeats are left out.</summary>
    private async Task<TestProbe> SubscribeAsync(DocumentName document)
    {
        var probe = CreateTestProbe();
        probe.IgnoreMessages<HistoryHeartbeat>();
        DistributedPubSub.Get(Sys).Mediator.Tell(new Subscribe(document.Topic, probe.Ref), probe.Ref);
        await probe.ExpectMsgAsync<SubscribeAck>(Patience);
        return probe;
    }

    private static async Task<(long Sequence, string Text)[]> ReceivePatchesAsync(TestProbe topic, int count)
    {
        var patches = new (long, string)[count];
        for (var i = 0; i < count; i++)
        {
            var patch = await topic.ExpectMsgAsync<PatchAppended>(Patience);
            patches[i] = (patch.Sequence, TextOf(patch.Payload));
        }

        return patches;
    }

    /// <summary>The journal's rows as the database has them, in the order they were written.</summary>
    private List<(string PersistenceId, long Sequence)> ReadJournalRows()
    {
        using var connection = new SqliteConnection(Node.Options.Journal.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT persistence_id, sequence_number FROM journal ORDER BY ordering";
        using var reader = command.ExecuteReader();
        var rows = new List<(string, long)>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        return rows;
    }
}
