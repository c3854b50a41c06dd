#nullable enable
using Akka.Actor;
using Akka.Event;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;
using Relay.Actors.Journal;
using Relay.Actors.Messages;

namespace Relay.Actors.Retention;

/// <summary>
/// The cluster's one retention sweeper (a cluster singleton, <c>Relay:Retention</c>): every interval, and once when
/// it starts, it asks the journal which documents under each policy hold patches the policy lets go
/// (<see cref="JournalSql.RetentionCandidatesAsync"/>, a page of documents per query) and sends each of them a
/// <see cref="TrimHistory"/> to its sequencer, one at a time, trimmed no further than the snapshot joiners start from.
/// It keeps nothing: a sweep that a restart or a move cut short is done again by the next.
/// </summary>
internal sealed class RetentionActor : ReceiveActor, IWithTimers
{
    private const int Page = 500;
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RetentionOptions _options;
    private readonly JournalSql _journal;
    private readonly IActorRef _sequencers;
    private readonly CancellationTokenSource _stopping = new();
    private bool _sweeping;

    /// <summary>Creates the sweeper; <paramref name="sequencers"/> reaches every document's sequencer.</summary>
    public RetentionActor(RetentionOptions options, JournalSql journal, IActorRef sequencers)
    {
        _options = options;
        _journal = journal;
        _sequencers = sequencers;

        Receive<Sweep>(_ =>
        {
            if (_sweeping)
            {
                return;
            }

            _sweeping = true;
            SweepAsync(_stopping.Token).PipeTo(Self, success: trims => new Swept(trims, null), failure: cause => new Swept(0, cause));
        });
        Receive<Swept>(swept =>
        {
            _sweeping = false;
            if (swept.Failure is { } failure)
            {
                _log.Warning(failure, "A retention sweep failed after {Trims} trims; the next one goes on", swept.Trims);
            }
            else if (swept.Trims > 0)
            {
                _log.Info("Retention trimmed {Trims} documents' journals", swept.Trims);
            }
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props for the sweeper.</summary>
    public static Props Props(RetentionOptions options, JournalSql journal, IActorRef sequencers) =>
        Akka.Actor.Props.Create(() => new RetentionActor(options, journal, sequencers));

    /// <inheritdoc />
    protected override void PreStart() =>
        Timers.StartPeriodicTimer(nameof(Sweep), Sweep.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(_options.IntervalSeconds));

    /// <inheritdoc />
    protected override void PostStop() => _stopping.Cancel();

    // Each policy's documents, a page at a time; a document under two prefixes follows the first policy, as PolicyOf says.
    private async Task<int> SweepAsync(CancellationToken cancellation)
    {
        var trims = 0;
        foreach (var policy in _options.Policies)
        {
            var writtenBefore = policy.MaxAgeDays is { } days ? DateTime.UtcNow.AddDays(-days) : (DateTime?)null;
            string? from = null;
            while (true)
            {
                var (candidates, rows, last) = await _journal.RetentionCandidatesAsync(policy.Prefix, from, Page, policy.KeepLast, writtenBefore, cancellation)
                    .ConfigureAwait(false);
                foreach (var (persistenceId, before) in candidates)
                {
                    if (!DocumentName.TryFromPersistenceId(persistenceId, out var document) || document.IsDefault ||
                        !ReferenceEquals(_options.PolicyOf(document.Value), policy))
                    {
                        continue;
                    }

                    var edited = await _sequencers.Ask<HistoryEdited>(new TrimHistory(document, before) { UpToSnapshot = true }, AskTimeout, cancellation)
                        .ConfigureAwait(false);
                    if (edited.Outcome == HistoryEditOutcome.Done)
                    {
                        trims++;
                    }
                }

                if (rows < Page)
                {
                    break;
                }

                from = last;
            }
        }

        return trims;
    }

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed record Swept(int Trims, Exception? Failure);
}
