#nullable enable
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Cluster;
using Relay.Actors.Documents;
using Relay.Actors.Fanout;

namespace Relay.Actors.Diagnostics;

/// <summary>
/// The actors' instruments, on the <see cref="Meter"/> named <see cref="MeterName"/> (the Gateway records its own
/// on a meter of the same name, so one exporter takes both). Instruments are static so the actors record without
/// any wiring; with no listener attached a recording is a single branch, and none of them allocates.
/// </summary>
public static class RelayMetrics
{
    /// <summary>The meter's name; exporters subscribe to it.</summary>
    public const string MeterName = "Relay";

    private static readonly Meter Meter = new(MeterName, typeof(RelayMetrics).Assembly.GetName().Version?.ToString());
    private static NodeStatus? _status;
    private static RelayDocuments? _documents;
    private static ActorSystem? _system;
    private static long _presentClients;
    private static ReplayTailBudget? _tailBudget;

    /// <summary>Presence and broadcast frames queued for a client on its ephemeral lane.</summary>
    public static readonly Counter<long> EphemeralRelayed =
        Meter.CreateCounter<long>("relay.ephemeral.relayed", "{frame}", "Presence and broadcast frames queued for clients of this node");

    /// <summary>Presence and broadcast frames dropped because a client's ephemeral lane was full (it does not read).</summary>
    public static readonly Counter<long> EphemeralDropped =
        Meter.CreateCounter<long>("relay.ephemeral.dropped", "{frame}", "Presence and broadcast frames dropped for clients whose ephemeral lane was full");

    /// <summary>Histories deleted whole (the server API's DELETE), counted on the node of the document's sequencer.</summary>
    public static readonly Counter<long> HistoriesDeleted =
        Meter.CreateCounter<long>("relay.history.deleted", "{history}", "Document histories deleted whole by the server API");

    /// <summary>Trims of a history's journal done (the server API's trim, retention), counted on the node of the document's sequencer.</summary>
    public static readonly Counter<long> HistoryTrims =
        Meter.CreateCounter<long>("relay.history.trims", "{trim}", "Trims of a document's journal under its snapshot (the server API's trim and retention)");

    /// <summary>Holes this node found in the journal: sequence numbers missing for good while later ones are there.</summary>
    public static readonly Counter<long> JournalHoles =
        Meter.CreateCounter<long>("relay.journal.holes", "{hole}", "Holes found in the journal (missing sequence numbers delivery skips), each once per node");

    /// <summary>Patches the webhook receiver took (counted on the node that runs the dispatcher).</summary>
    public static readonly Counter<long> WebhookPatches =
        Meter.CreateCounter<long>("relay.webhook.patches", "{patch}", "Patches the webhook receiver took, sent again after a restart included");

    /// <summary>Tries of a webhook batch the receiver did not take (an error answer, a timeout, no connection).</summary>
    public static readonly Counter<long> WebhookFailures =
        Meter.CreateCounter<long>("relay.webhook.failures", "{try}", "Webhook POSTs the receiver did not take; each is tried again");

    /// <summary>Documents whose sequencer runs on this node and that are not compactable (compaction on, a patch that did not fold).</summary>
    public static readonly UpDownCounter<long> NotCompactableDocuments =
        Meter.CreateUpDownCounter<long>("relay.documents.not_compactable", "{document}", "Documents of this node's sequencers that are not compactable: their joiners replay the history");

    /// <summary>From <c>PersistAsync</c> to its callback in the sequencer.</summary>
    public static readonly Histogram<double> JournalWriteDuration =
        Meter.CreateHistogram<double>(
            "relay.journal.write.duration",
            "s",
            "Time from PersistAsync to the journal's confirmation in the sequencer",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

    /// <summary>Journal writes of a sequencer that failed or were rejected; each stops the sequencer, which recovers from the journal.</summary>
    public static readonly Counter<long> JournalWriteFailures =
        Meter.CreateCounter<long>("relay.journal.write.failures", "{write}", "Journal writes that failed or were rejected; the sequencer restarts from the journal");

    /// <summary>Sequencer writes committed together in one journal transaction (<see cref="Journal.GroupCommitJournal"/>).</summary>
    public static readonly Histogram<int> JournalCommitWrites =
        Meter.CreateHistogram<int>(
            "relay.journal.commit.writes",
            "{write}",
            "Sequencer writes committed together in one journal transaction",
            tags: null,
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] });

    /// <summary>From a connection's start to the end of its replay of the history.</summary>
    public static readonly Histogram<double> ReplayDuration =
        Meter.CreateHistogram<double>(
            "relay.replay.duration",
            "s",
            "Time a new connection took to receive the whole history",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    /// <summary>Joins that read history, by where it came from: <c>tail</c> (the hub's memory alone) or <c>journal</c> (in part or whole).</summary>
    public static readonly Counter<long> ReplayJoins =
        Meter.CreateCounter<long>("relay.replay.joins", "{join}", "Joins that read history: source=tail from the hub's tail in memory alone, source=journal from the journal in part or whole");

    static RelayMetrics()
    {
        Meter.CreateObservableGauge("relay.replay.tail.bytes", () => Volatile.Read(ref _tailBudget) is { } budget ? [new Measurement<long>(budget.UsedBytes)] : Array.Empty<Measurement<long>>(), "By", "Bytes the documents' replay tails on this node keep in memory (payloads plus a per-patch estimate)");
        Meter.CreateObservableGauge("relay.last_sequence", ObserveLastSequence, "{patch}", "Highest sequence number this node has seen");
        Meter.CreateObservableGauge("relay.cluster.members", ObserveClusterMembers, "{node}", "Cluster members with status Up, as this node sees them");
        Meter.CreateObservableGauge("relay.documents.open", ObserveOpenDocuments, "{document}", "Documents some client of this node has open (the default document always)");
        Meter.CreateObservableGauge("relay.sequencers", () => Observe(status => status.SequencerCount), "{document}", "Documents whose sequencer runs on this node");
        Meter.CreateObservableGauge("relay.presence.clients", () => Interlocked.Read(ref _presentClients), "{client}", "Present clients (presence) of this node's connections, over every document");
    }

    /// <summary>A document's presence on this node counts <paramref name="delta"/> more (or fewer) present clients of its connections.</summary>
    public static void AddPresentClients(long delta)
    {
        if (delta != 0)
        {
            Interlocked.Add(ref _presentClients, delta);
        }
    }

    /// <summary>Feeds the gauge of the node's replay tails; null: the tail is off.</summary>
    internal static void ObserveReplayTail(ReplayTailBudget? budget) => Volatile.Write(ref _tailBudget, budget);

    /// <summary>Feeds the gauges of the node's state; one node per process.</summary>
    public static void ObserveNode(ActorSystem system, NodeStatus status, RelayDocuments documents)
    {
        Volatile.Write(ref _system, system);
        Volatile.Write(ref _status, status);
        Volatile.Write(ref _documents, documents);
    }

    /// <summary>Seconds since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public static double SecondsSince(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

    private static IEnumerable<Measurement<int>> ObserveOpenDocuments() =>
        Volatile.Read(ref _documents) is { } documents ? [new Measurement<int>(documents.OpenDocuments)] : [];

    private static IEnumerable<Measurement<int>> Observe(Func<NodeStatus, int> read) =>
        Volatile.Read(ref _status) is { } status ? [new Measurement<int>(read(status))] : [];

    private static IEnumerable<Measurement<long>> ObserveLastSequence() =>
        Volatile.Read(ref _status) is { } status ? [new Measurement<long>(status.LastSequence)] : [];

    private static IEnumerable<Measurement<int>> ObserveClusterMembers()
    {
        if (Volatile.Read(ref _system) is not { WhenTerminated.IsCompleted: false } system)
        {
            return [];
        }

        var up = Cluster.Get(system).State.Members.Count(member => member.Status == MemberStatus.Up);
        return [new Measurement<int>(up)];
    }
}
