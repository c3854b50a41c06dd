#nullable enable
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence;
using Akka.Streams;
using Akka.Streams.Dsl;
using Relay.Actors.Compaction;
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Documents;

/// <summary>
/// A backend's patch for a document's sequencer (the server API's publish): journaled and relayed like a client's,
/// under <see cref="Origin"/> and <see cref="Id"/>, the (client, id) pair the sequencer deduplicates by.
/// </summary>
public sealed record PublishRequest
{
    private const string ApiOriginPrefix = "api/";

    private PublishRequest(string origin, long id, ReadOnlyMemory<byte> payload, bool isText)
    {
        Origin = origin;
        Id = id;
        Payload = payload;
        IsText = isText;
    }

    /// <summary>Who the patch is journaled and deduplicated under.</summary>
    public string Origin { get; }

    /// <summary>Its id under <see cref="Origin"/>.</summary>
    public long Id { get; }

    /// <summary>The patch, byte for byte.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Whether it is relayed as text (else as binary).</summary>
    public bool IsText { get; }

    /// <summary>Journal it only while the document's head is this sequence number; null: always.</summary>
    public long? IfHead { get; init; }

    /// <summary>A patch no retry will name again: a client of its own, id 1. A resend inside one call is still deduplicated.</summary>
    public static PublishRequest Once(ReadOnlyMemory<byte> payload, bool isText) =>
        new(ApiOriginPrefix + Guid.NewGuid().ToString("N"), 1, payload, isText);

    /// <summary>
    /// A patch named by an idempotency key, within <paramref name="scope"/> (the API key's name, so two backends'
    /// keys never meet): a client of its own derived from the key (a SHA-256 of scope and key), id 1. A retry with
    /// the same key and payload gets the first answer; with another payload, <see cref="PublishOutcome.IdReused"/>.
    /// </summary>
    public static PublishRequest WithIdempotencyKey(string scope, string key, ReadOnlyMemory<byte> payload, bool isText)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(scope + "\n" + key));
        return new(ApiOriginPrefix + Convert.ToHexStringLower(hash, 0, 16), 1, payload, isText);
    }

    /// <summary>
    /// A patch under a named client and its id, as a <c>relay.v1</c> client's (the same names, docs/protocol.md): ids
    /// go up by one per client; a retry of the client's last id gets the first answer.
    /// </summary>
    public static PublishRequest AsClient(string client, long id, ReadOnlyMemory<byte> payload, bool isText) =>
        new(ClientProtocol.ClientOriginPrefix + client, id, payload, isText);
}

/// <summary>What became of a <see cref="PublishRequest"/>.</summary>
public enum PublishOutcome
{
    /// <summary>Journaled (now, or by an earlier try of the same request) under <see cref="PublishResult.Sequence"/>.</summary>
    Journaled,

    /// <summary>The head was no longer <see cref="PublishRequest.IfHead"/>; it is <see cref="PublishResult.Sequence"/>. Nothing journaled.</summary>
    HeadMoved,

    /// <summary>The id was journaled under its client with another payload. Nothing journaled.</summary>
    IdReused,

    /// <summary>The id is below its client's last one (<see cref="PublishResult.LastId"/>), whose answer is the only one kept. Nothing journaled.</summary>
    IdBehind,

    /// <summary>The id is not one more than its client's last (<see cref="PublishResult.LastId"/>). Nothing journaled.</summary>
    IdOutOfOrder,

    /// <summary>No sequencer confirmed it within <c>Relay:UnavailableAfterSeconds</c>; it may still be journaled later.</summary>
    Unavailable,
}

/// <summary>The sequencer's answer to a publish: <paramref name="Sequence"/> in the history named <paramref name="Epoch"/>.</summary>
public sealed record PublishResult(PublishOutcome Outcome, long Sequence, long Epoch, long LastId = 0);

/// <summary>What became of a delete or a trim of a document's history.</summary>
public enum HistoryEditStatus
{
    /// <summary>Done (for a trim, also: nothing was left to drop).</summary>
    Done,

    /// <summary>The document has no history.</summary>
    NotFound,

    /// <summary>A trim its snapshots do not cover (<see cref="HistoryEditResult.Reason"/>).</summary>
    NotKept,

    /// <summary>A trim past the head (<see cref="HistoryEditResult.Reason"/>).</summary>
    Bad,

    /// <summary>The journal failed, or no sequencer answered in time; nothing was deleted by a failed delete. Retry.</summary>
    Unavailable,
}

/// <summary>
/// The answer to a delete or a trim: <paramref name="Through"/> is the last sequence number deleted (a delete: the
/// old head), or the one the journal is now trimmed through; <paramref name="Head"/>, <paramref name="Epoch"/> and
/// <paramref name="JoinSnapshot"/>: the document's when answered (a delete: the deleted history's).
/// </summary>
public sealed record HistoryEditResult(HistoryEditStatus Status, long Through, long Head, long Epoch, long JoinSnapshot, string? Reason = null);

/// <summary>A journaled patch as the server API hands it out.</summary>
public sealed record PublishedPatch(long Sequence, ReadOnlyMemory<byte> Payload, bool IsText);

/// <summary>
/// A page of a document's history: <paramref name="Patches"/> in order after the asked-for sequence number, and
/// <paramref name="ReadThrough"/>, the last sequence number the page accounts for (a hole the journal skipped
/// included), where the next page starts after. <paramref name="Head"/> and <paramref name="Epoch"/>: the document's
/// when the page was read.
/// </summary>
public sealed record HistoryPage(long Head, long Epoch, IReadOnlyList<PublishedPatch> Patches, long ReadThrough);

/// <summary>How a read of a document went.</summary>
public enum ReadOutcome
{
    /// <summary>Read.</summary>
    Read,

    /// <summary>The document has no history.</summary>
    NotFound,

    /// <summary>No sequencer answered in time.</summary>
    Unavailable,

    /// <summary>State: compaction is off (<c>Relay:Compaction:Mode</c> none). History: the part asked for was deleted under a snapshot.</summary>
    NotKept,

    /// <summary>State: a patch of the document did not fold (<see cref="DocumentRead{T}.Reason"/>).</summary>
    NotCompactable,
}

/// <summary>A read of a document: <see cref="Value"/> when <see cref="Outcome"/> is <see cref="ReadOutcome.Read"/>.</summary>
public sealed record DocumentRead<T>(ReadOutcome Outcome, T? Value = null, string? Reason = null)
    where T : class;

/// <summary>
/// One patch of a prefix's change feed: <paramref name="Document"/>'s patch <paramref name="Sequence"/>, at
/// <paramref name="Position"/> in the journal's one ordering of all writes, where a feed resumes after.
/// </summary>
public sealed record DocumentChange(long Position, DocumentName Document, long Sequence, ReadOnlyMemory<byte> Payload, bool IsText);

/// <summary>A document that has a history: its last sequence number and when that was journaled (UTC).</summary>
public sealed record KnownDocument(DocumentName Document, long Head, DateTime LastWrite);

/// <summary>A page of known documents, and the cursor of the next page (null: it was the last).</summary>
public sealed record DocumentList(IReadOnlyList<KnownDocument> Documents, string? Next);

/// <summary>A document's state at <paramref name="Head"/> (compaction), UTF-8 JSON.</summary>
public sealed record DocumentStateAtHead(long Head, long Epoch, ReadOnlyMemory<byte> State);

/// <summary>
/// The server API's way to the documents, inside <see cref="RelayDocuments"/>: publish to a document's sequencer,
/// wherever it runs, and read a document's history and state from the journal on this node, memory bounded as a
/// joiner's replay is.
/// </summary>
internal sealed class DocumentApi
{
    private static readonly TimeSpan ResendEvery = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(10);

    private readonly IActorRegistry _registry;
    private readonly RelayOptions _options;
    private readonly Lazy<(ActorSystem System, HistoryReader Reader, IMaterializer Materializer)> _journal;
    private readonly Lazy<QueryPatchJournal> _patches;
    private readonly DocumentIndex _index;

    public DocumentApi(IActorRegistry registry, RelayOptions options, Func<(ActorSystem, NodeStatus)> node)
    {
        _registry = registry;
        _options = options;
        _journal = new(() =>
        {
            var (system, status) = node();
            return (system, RelayHostingExtensions.CreateHistoryReader(system, options, status), system.Materializer());
        });
        _patches = new(() => RelayHostingExtensions.CreatePatchJournal(_journal.Value.System));
        _index = new DocumentIndex(options.Journal);
    }

    public async Task<PublishResult> PublishAsync(DocumentName document, PublishRequest request, CancellationToken cancellation)
    {
        var append = new AppendPatch(document, request.Origin, request.Id, request.Id, request.Payload, request.IsText)
        {
            ExpectedHead = request.IfHead,
            FromApi = true,
        };

        // Resent like a connection's frames: an append whose write is in flight gets no answer, its resend gets the
        // journaled one; a sequencer that moved or restarted gets it again. The (client, id) pair keeps it once.
        var deadline = DateTime.UtcNow.AddSeconds(_options.UnavailableAfterSeconds);
        while (true)
        {
            try
            {
                var response = await _registry.Get<HistoryProxy>().Ask<AppendPatchResponse>(append, ResendEvery, cancellation).ConfigureAwait(false);
                return response.Outcome switch
                {
                    AppendOutcome.Journaled => new PublishResult(PublishOutcome.Journaled, response.Sequence, response.Epoch),
                    AppendOutcome.HeadMoved => new PublishResult(PublishOutcome.HeadMoved, response.Sequence, response.Epoch),
                    AppendOutcome.Conflict => new PublishResult(PublishOutcome.IdReused, response.Sequence, response.Epoch, response.JournaledFrame),
                    AppendOutcome.Behind => new PublishResult(PublishOutcome.IdBehind, response.Sequence, response.Epoch, response.JournaledFrame),
                    _ => new PublishResult(PublishOutcome.IdOutOfOrder, response.Sequence, response.Epoch, response.JournaledFrame),
                };
            }
            catch (AskTimeoutException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (AskTimeoutException)
            {
                return new PublishResult(PublishOutcome.Unavailable, 0, 0);
            }
        }
    }

    /// <summary>
    /// A delete or a trim, asked of the document's sequencer until it answers or <c>Relay:UnavailableAfterSeconds</c>
    /// pass: both are safe to ask again (a delete of a history already gone answers <see cref="HistoryEditStatus.NotFound"/>).
    /// </summary>
    public async Task<HistoryEditResult> EditHistoryAsync(IDocumentCommand edit, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow.AddSeconds(_options.UnavailableAfterSeconds);
        while (true)
        {
            try
            {
                // A delete waits for the writes in flight and commits one transaction: a longer wait per try.
                var edited = await _registry.Get<HistoryProxy>().Ask<HistoryEdited>(edit, StatusTimeout, cancellation).ConfigureAwait(false);
                var status = edited.Outcome switch
                {
                    HistoryEditOutcome.Done => HistoryEditStatus.Done,
                    HistoryEditOutcome.NotFound => HistoryEditStatus.NotFound,
                    HistoryEditOutcome.NotKept => HistoryEditStatus.NotKept,
                    HistoryEditOutcome.Bad => HistoryEditStatus.Bad,
                    _ => HistoryEditStatus.Unavailable,
                };
                return new HistoryEditResult(status, edited.Through, edited.Head, edited.Epoch, edited.JoinSnapshot, edited.Reason);
            }
            catch (AskTimeoutException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (AskTimeoutException)
            {
                return new HistoryEditResult(HistoryEditStatus.Unavailable, 0, 0, 0, 0, "the document's sequencer did not answer in time");
            }
        }
    }

    public async Task<DocumentRead<HistoryPage>> ReadHistoryAsync(DocumentName document, long after, int limit, long maxBytes, CancellationToken cancellation)
    {
        try
        {
            return await ReadHistoryPageAsync(document, after, limit, maxBytes, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            return new(ReadOutcome.Unavailable);
        }
    }

    public async Task<DocumentRead<DocumentStateAtHead>> ReadStateAsync(DocumentName document, CancellationToken cancellation)
    {
        try
        {
            return await FoldStateAsync(document, cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            return new(ReadOutcome.Unavailable);
        }
    }

    // The journal or the snapshot store did not answer, or failed on the database: the caller may retry, as a
    // joiner's replay retries.
    private static bool IsUnavailable(Exception e) =>
        e is AskTimeoutException or System.Data.Common.DbException || e.InnerException is System.Data.Common.DbException;

    private async Task<DocumentRead<HistoryPage>> ReadHistoryPageAsync(DocumentName document, long after, int limit, long maxBytes, CancellationToken cancellation)
    {
        if (await OpenAsync(document, cancellation).ConfigureAwait(false) is not { } opened)
        {
            return new(ReadOutcome.Unavailable);
        }

        if (opened.LastSequence == 0)
        {
            return new(ReadOutcome.NotFound);
        }

        if (_options.Compaction.DeleteCompacted && opened.JoinSnapshot > 0 && after < opened.JoinSnapshot)
        {
            return new(ReadOutcome.NotKept, Reason: $"the history up to {opened.JoinSnapshot} may be deleted under its snapshot (Relay:Compaction:DeleteCompacted); read after {opened.JoinSnapshot}, or read the state");
        }

        if (after < opened.TrimmedThrough)
        {
            return new(ReadOutcome.NotKept, Reason: $"the history through {opened.TrimmedThrough} was trimmed; read after {opened.TrimmedThrough}, or read the state");
        }

        var (_, reader, materializer) = _journal.Value;
        var window = reader.NewWindow();
        var patches = new List<PublishedPatch>();
        long bytes = 0;
        var next = after + 1;
        var readThrough = after;
        while (next <= opened.LastSequence && patches.Count < limit)
        {
            cancellation.ThrowIfCancellationRequested();
            var read = await reader.ReadWindowAsync(document, window, next, Math.Min(opened.LastSequence, next + limit - patches.Count - 1), opened.LastSequence, materializer).ConfigureAwait(false);
            foreach (var patch in read.Patches)
            {
                // At least one patch per page, however large, so a reader always moves on.
                if (patches.Count == limit || (patches.Count > 0 && bytes + patch.Payload.Length > maxBytes))
                {
                    return new(ReadOutcome.Read, new HistoryPage(opened.LastSequence, opened.Epoch, patches, readThrough));
                }

                patches.Add(new PublishedPatch(patch.Sequence, patch.Payload, patch.IsText));
                bytes += patch.Payload.Length;
                readThrough = patch.Sequence;
            }

            if (read.ReadThrough < next)
            {
                break;
            }

            readThrough = Math.Max(readThrough, read.ReadThrough);
            next = read.ReadThrough + 1;
        }

        return new(ReadOutcome.Read, new HistoryPage(opened.LastSequence, opened.Epoch, patches, readThrough));
    }

    private async Task<DocumentRead<DocumentStateAtHead>> FoldStateAsync(DocumentName document, CancellationToken cancellation)
    {
        var mode = _options.Compaction.ParsedMode;
        if (mode == CompactionMode.None)
        {
            return new(ReadOutcome.NotKept, Reason: "compaction is off (Relay:Compaction:Mode), so the server keeps no state: read the history instead");
        }

        if (await OpenAsync(document, cancellation).ConfigureAwait(false) is not { } opened)
        {
            return new(ReadOutcome.Unavailable);
        }

        if (opened.LastSequence == 0)
        {
            return new(ReadOutcome.NotFound);
        }

        var (system, reader, materializer) = _journal.Value;
        var fold = DocumentFold.Start(mode, _options.Compaction.InitialStateUtf8);
        var from = 1L;
        if (opened.JoinSnapshot > 0)
        {
            // The snapshot joiners start from, then the patches after it: the fold a joiner's client ends with.
            var store = Persistence.Instance.Apply(system).SnapshotStoreFor(null);
            var loaded = await store.Ask<LoadSnapshotResult>(
                new LoadSnapshot(document.PersistenceId, new SnapshotSelectionCriteria(opened.JoinSnapshot), opened.JoinSnapshot),
                StatusTimeout, cancellation).ConfigureAwait(false);
            if (loaded.Snapshot?.Snapshot is HistorySnapshot { Compactable: true } snapshot)
            {
                fold = DocumentFold.Restore(mode, snapshot.State, null);
                from = snapshot.LastSequence + 1;
            }
        }

        var readThrough = await reader.ReadAsync(document, from, opened.LastSequence, opened.LastSequence, patch =>
        {
            fold.Apply(patch.Payload, patch.IsText);
            return ValueTask.CompletedTask;
        }, materializer).ConfigureAwait(false);
        if (readThrough < opened.LastSequence)
        {
            return new(ReadOutcome.Unavailable);
        }

        return fold.StateUtf8() is { } state
            ? new(ReadOutcome.Read, new DocumentStateAtHead(opened.LastSequence, opened.Epoch, state))
            : new(ReadOutcome.NotCompactable, Reason: $"the document is not compactable ({fold.NotCompactableReason}): read the history instead");
    }

    /// <summary>
    /// Every patch of the documents under <paramref name="prefix"/> journaled after <paramref name="afterPosition"/>, in
    /// the journal's ordering of all writes (so each document's in its own order), history then live, until
    /// <paramref name="cancellation"/>. Read from the journal alone, so any node serves it; held back by its reader.
    /// </summary>
    public async IAsyncEnumerable<DocumentChange> FollowAsync(string prefix, long afterPosition, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var changes = _patches.Value.FollowPrefix(prefix, afterPosition).RunAsAsyncEnumerable(_journal.Value.Materializer);
        await foreach (var change in changes.WithCancellation(cancellation).ConfigureAwait(false))
        {
            yield return change;
        }
    }

    /// <summary>A page of the documents under <paramref name="prefix"/> the journal holds (<see cref="DocumentIndex"/>); null when the journal failed.</summary>
    public async Task<DocumentList?> ListAsync(string prefix, string? cursor, int limit, CancellationToken cancellation)
    {
        try
        {
            var (documents, next) = await _index.ListAsync(prefix, cursor, limit, cancellation).ConfigureAwait(false);
            return new DocumentList(documents, next);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            return null;
        }
    }

    private Task<DocumentStatus?> OpenAsync(DocumentName document, CancellationToken cancellation) =>
        RelayDocuments.TryGetStatusAsync(_registry, document, StatusTimeout, cancellation);
}
