#nullable enable
using Akka;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Streams.Dsl;
using Relay.Actors.Messages;

namespace Relay.Actors.Journal;

/// <summary>Reads the journaled history; the only source of truth for replay and gap filling.</summary>
public interface IPatchJournal
{
    /// <summary>The journaled patches from <paramref name="fromSequence"/> on, as the journal has them now.</summary>
    Source<PatchAppended, NotUsed> Read(long fromSequence, long toSequence = long.MaxValue);
}

/// <summary>Reads the history through Akka.Persistence.Query's current-events-by-persistence-id query.</summary>
public sealed class QueryPatchJournal : IPatchJournal
{
    private readonly ICurrentEventsByPersistenceIdQuery _query;

    /// <summary>Uses the read journal plugin <paramref name="readJournalPluginId"/> of <paramref name="system"/>.</summary>
    public QueryPatchJournal(ActorSystem system, string readJournalPluginId)
    {
        _query = PersistenceQuery.Get(system).ReadJournalFor<ICurrentEventsByPersistenceIdQuery>(readJournalPluginId);
    }

    /// <inheritdoc />
    public Source<PatchAppended, NotUsed> Read(long fromSequence, long toSequence = long.MaxValue) =>
        _query.CurrentEventsByPersistenceId(RelayTopics.HistoryPersistenceId, fromSequence, toSequence)
            .Select(envelope => (PatchAppended)envelope.Event);
}
