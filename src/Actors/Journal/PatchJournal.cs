#nullable enable
using Akka;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Streams.Dsl;
using Relay.Actors.Documents;
using Relay.Actors.Messages;

namespace Relay.Actors.Journal;

/// <summary>Reads the journaled history; the only source of truth for replay and gap filling.</summary>
internal interface IPatchJournal
{
    /// <summary>The journaled patches of <paramref name="document"/> from <paramref name="fromSequence"/> on, as the journal has them now.</summary>
    Source<PatchAppended, NotUsed> Read(DocumentName document, long fromSequence, long toSequence = long.MaxValue);
}

/// <summary>Reads the history through Akka.Persistence.Query's current-events-by-persistence-id query.</summary>
internal sealed class QueryPatchJournal : IPatchJournal
{
    private readonly ActorSystem _system;
    private readonly string _readJournalPluginId;
    private ICurrentEventsByPersistenceIdQuery? _query;

    /// <summary>Uses the read journal plugin <paramref name="readJournalPluginId"/> of <paramref name="system"/>.</summary>
    /// <remarks>
    /// The plugin is created on the first read, not here: its constructor waits (up to 5 s) for the journal,
    /// which on a busy machine can take longer; a failed read is retried by its reader, a failed constructor
    /// here would take the whole node down.
    /// </remarks>
    public QueryPatchJournal(ActorSystem system, string readJournalPluginId)
    {
        _system = system;
        _readJournalPluginId = readJournalPluginId;
    }

    /// <inheritdoc />
    public Source<PatchAppended, NotUsed> Read(DocumentName document, long fromSequence, long toSequence = long.MaxValue) =>
        Read(document.PersistenceId, fromSequence, toSequence);

    /// <summary>The journaled patches of any persistence id (the journal warm-up reads its own), as <see cref="Read(DocumentName, long, long)"/>.</summary>
    public Source<PatchAppended, NotUsed> Read(string persistenceId, long fromSequence, long toSequence = long.MaxValue)
    {
        ICurrentEventsByPersistenceIdQuery query;
        try
        {
            query = Volatile.Read(ref _query) ?? (_query = PersistenceQuery.Get(_system).ReadJournalFor<ICurrentEventsByPersistenceIdQuery>(_readJournalPluginId));
        }
        catch (AggregateException ex) when (ex.InnerException is AskTimeoutException)
        {
            return Source.Failed<PatchAppended>(ex.InnerException);
        }

        return query.CurrentEventsByPersistenceId(persistenceId, fromSequence, toSequence)
            .Select(envelope => (PatchAppended)envelope.Event);
    }
}
