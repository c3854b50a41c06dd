#nullable enable
using System.Collections.Concurrent;
using Akka;
using Akka.Streams.Dsl;
using Relay.Actors.Documents;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Tests;

/// <summary>The real journal, noting which ranges a connection asked it for.</summary>
internal sealed class RecordingPatchJournal : IPatchJournal
{
    private readonly IPatchJournal _journal;
    private readonly ConcurrentQueue<(long From, long To)> _reads = new();

    public RecordingPatchJournal(IPatchJournal journal) => _journal = journal;

    /// <summary>Every read so far, in the order they were asked for.</summary>
    public IReadOnlyList<(long From, long To)> Reads => _reads.ToArray();

    /// <inheritdoc />
    public Source<PatchAppended, NotUsed> Read(DocumentName document, long fromSequence, long toSequence = long.MaxValue)
    {
        _reads.Enqueue((fromSequence, toSequence));
        return _journal.Read(document, fromSequence, toSequence);
    }
}
