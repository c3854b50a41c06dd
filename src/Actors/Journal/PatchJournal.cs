#nullable enable
using Akka;
using Akka.Actor;
using Akka.Persistence;
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

/// <summary>A journaled patch of <paramref name="PersistenceId"/> at <paramref name="Position"/> in the journal's ordering of all writes.</summary>
internal sealed record JournalChange(long Position, string PersistenceId, PatchAppended Patch);

/// <summary>Reads the history through Akka.Persistence.Query's current-events-by-persistence-id query.</summary>
internal sealed class QueryPatchJournal : IPatchJournal
{
    // How long the first read waits for the write journal to be initialized (its tables created) before it fails
    // and its reader retries; far longer than the plugin's own 5 s, which a loaded machine's start outlasts.
    private static readonly TimeSpan WriteJournalPatience = TimeSpan.FromSeconds(60);
    private readonly ActorSystem _system;
    private readonly string _readJournalPluginId;
    private ICurrentEventsByPersistenceIdQuery? _query;
    private Task<JournalInitialized>? _writeJournalInitialized;

    /// <summary>Uses the read journal plugin <paramref name="readJournalPluginId"/> of <paramref name="system"/>.</summary>
    /// <remarks>
    /// The plugin is created on the first read, not here, and only once the write journal says it is initialized:
    /// the plugin's constructor asks the write journal the same and gives up after 5 s, which on a busy machine's
    /// start is too short (the late answer was then logged as a dead letter). Asked first, patiently, the write
    /// journal answers the plugin at once. A failed read is retried by its reader; a failed constructor here would
    /// take the whole node down.
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
        if (Volatile.Read(ref _query) is { } query)
        {
            return Events(query, persistenceId, fromSequence, toSequence);
        }

        return Source.FromTask(WriteJournalInitialized())
            .ConcatMany(_ =>
            {
                try
                {
                    query = Volatile.Read(ref _query) ?? (_query = PersistenceQuery.Get(_system).ReadJournalFor<ICurrentEventsByPersistenceIdQuery>(_readJournalPluginId));
                }
                catch (AggregateException ex) when (ex.InnerException is AskTimeoutException)
                {
                    return Source.Failed<PatchAppended>(ex.InnerException);
                }

                return Events(query, persistenceId, fromSequence, toSequence);
            });
    }

    /// <summary>
    /// Every patch the journal holds after position <paramref name="afterPosition"/> (the journal's own ordering of
    /// all writes, the same for every reader), in that order, then each new one as it is journaled: a live query,
    /// which polls the journal (the plugin's <c>refresh-interval</c>) and waits out an ordering not yet committed.
    /// </summary>
    public Source<JournalChange, NotUsed> Follow(long afterPosition) =>
        Source.FromTask(WriteJournalInitialized())
            .ConcatMany(_ =>
            {
                IAllEventsQuery query;
                try
                {
                    query = PersistenceQuery.Get(_system).ReadJournalFor<IAllEventsQuery>(_readJournalPluginId);
                }
                catch (AggregateException ex) when (ex.InnerException is AskTimeoutException)
                {
                    return Source.Failed<JournalChange>(ex.InnerException);
                }

                return query.AllEvents(Offset.Sequence(afterPosition))
                    .Where(envelope => envelope.Event is PatchAppended && envelope.Offset is Sequence)
                    .Select(envelope => new JournalChange(((Sequence)envelope.Offset).Value, envelope.PersistenceId, (PatchAppended)envelope.Event));
            });

    /// <summary>
    /// <see cref="Follow"/> of the documents whose names start with <paramref name="prefix"/>, each patch named by its
    /// document. A name too long for the journal's column is kept hashed and cannot be named: it is left out.
    /// </summary>
    public Source<DocumentChange, NotUsed> FollowPrefix(string prefix, long afterPosition)
    {
        var start = DocumentName.PersistenceIdPrefixOf(prefix);
        return Follow(afterPosition)
            .Where(change => change.PersistenceId.StartsWith(start, StringComparison.Ordinal))
            .Select(change => DocumentName.TryFromPersistenceId(change.PersistenceId, out var document) && !document.IsDefault
                ? new DocumentChange(change.Position, document, change.Patch.Sequence, change.Patch.Payload, change.Patch.IsText)
                : null)
            .Where(change => change is not null)
            .Select(change => change!);
    }

    private static Source<PatchAppended, NotUsed> Events(ICurrentEventsByPersistenceIdQuery query, string persistenceId, long fromSequence, long toSequence) =>
        query.CurrentEventsByPersistenceId(persistenceId, fromSequence, toSequence).Select(envelope => (PatchAppended)envelope.Event);

    /// <summary>The write journal's answer to <see cref="AwaitJournalInitialized"/>, asked once (again after a failure).</summary>
    private Task<JournalInitialized> WriteJournalInitialized()
    {
        var asked = Volatile.Read(ref _writeJournalInitialized);
        if (asked is null || asked.IsFaulted || asked.IsCanceled)
        {
            var writePlugin = _system.Settings.Config.GetString($"{_readJournalPluginId}.write-plugin", null);
            var journal = Persistence.Instance.Apply(_system).JournalFor(string.IsNullOrEmpty(writePlugin) ? null : writePlugin);
            asked = journal.Ask<JournalInitialized>(AwaitJournalInitialized.Instance, WriteJournalPatience);
            Volatile.Write(ref _writeJournalInitialized, asked);
        }

        return asked;
    }
}
