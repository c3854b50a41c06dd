#nullable enable
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Cluster;
using Relay.Actors.Connections;
using Relay.Actors.Fanout;

namespace Relay.Actors.Diagnostics;

/// <summary>
/// Relay's instruments, all on the one <see cref="Meter"/> named <see cref="MeterName"/>. Instruments are static
/// so the actors and the socket loops record without any wiring; with no listener attached a recording is a
/// single branch, and none of them allocates.
/// </summary>
public static class RelayMetrics
{
    /// <summary>The meter's name; exporters subscribe to it.</summary>
    public const string MeterName = "Relay";

    private static readonly Meter Meter = new(MeterName, typeof(RelayMetrics).Assembly.GetName().Version?.ToString());
    private static NodeStatus? _status;
    private static ActorSystem? _system;

    /// <summary>Client frames accepted by this node's sockets.</summary>
    public static readonly Counter<long> PatchesReceived =
        Meter.CreateCounter<long>("relay.patches.received", "{patch}", "Frames received from clients on this node");

    /// <summary>Frames written to this node's sockets, replay included.</summary>
    public static readonly Counter<long> PatchesDelivered =
        Meter.CreateCounter<long>("relay.patches.delivered", "{patch}", "Frames written to clients on this node, replay included");

    /// <summary>Payload bytes received from clients.</summary>
    public static readonly Counter<long> BytesReceived =
        Meter.CreateCounter<long>("relay.received", "By", "Payload bytes received from clients");

    /// <summary>Payload bytes written to clients.</summary>
    public static readonly Counter<long> BytesSent =
        Meter.CreateCounter<long>("relay.sent", "By", "Payload bytes written to clients");

    /// <summary>Open WebSocket connections of this node.</summary>
    public static readonly UpDownCounter<long> Connections =
        Meter.CreateUpDownCounter<long>("relay.connections", "{connection}", "Open WebSocket connections on this node");

    /// <summary>Closed connections by reason (<see cref="DisconnectReason"/>).</summary>
    public static readonly Counter<long> Disconnects =
        Meter.CreateCounter<long>("relay.disconnects", "{connection}", "Closed connections by reason");

    /// <summary>Holes this node found in the journal: sequence numbers missing for good while later ones are there.</summary>
    public static readonly Counter<long> JournalHoles =
        Meter.CreateCounter<long>("relay.journal.holes", "{hole}", "Holes found in the journal (missing sequence numbers delivery skips), each once per node");

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

    static RelayMetrics()
    {
        Meter.CreateObservableGauge("relay.last_sequence", ObserveLastSequence, "{patch}", "Highest sequence number this node has seen");
        Meter.CreateObservableGauge("relay.cluster.members", ObserveClusterMembers, "{node}", "Cluster members with status Up, as this node sees them");
        Meter.CreateObservableGauge("relay.documents.open", () => Observe(status => status.OpenDocuments), "{document}", "Documents with a hub on this node (the default document always)");
        Meter.CreateObservableGauge("relay.sequencers", () => Observe(status => status.SequencerCount), "{document}", "Documents whose sequencer runs on this node");
    }

    /// <summary>Feeds the gauges of the node's state; one node per process.</summary>
    public static void ObserveNode(ActorSystem system, NodeStatus status)
    {
        Volatile.Write(ref _system, system);
        Volatile.Write(ref _status, status);
    }

    /// <summary>Records a connection's end under its reason's label.</summary>
    public static void RecordDisconnect(CloseRequest request) => RecordDisconnect(DisconnectReason.Of(request));

    /// <summary>Records a connection's end under <paramref name="reason"/> (a <see cref="DisconnectReason"/>).</summary>
    public static void RecordDisconnect(string reason) =>
        Disconnects.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Seconds since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public static double SecondsSince(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

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

/// <summary>The <c>reason</c> label of <c>relay_disconnects_total</c>.</summary>
public static class DisconnectReason
{
    /// <summary>The server closed with 1000 (a close the client started counts as <see cref="ClientClosed"/>).</summary>
    public const string Normal = "normal";

    /// <summary>The server shut down.</summary>
    public const string GoingAway = "going_away";

    /// <summary>The client did not read its patches fast enough (1008).</summary>
    public const string SlowReader = "slow_reader";

    /// <summary>The client sent more messages per second than allowed (1008).</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A message over the size limit (1009).</summary>
    public const string Oversize = "oversize";

    /// <summary>A text frame that was not UTF-8 (1007).</summary>
    public const string BadUtf8 = "bad_utf8";

    /// <summary>A message not finished within its deadline (1008).</summary>
    public const string MessageTimeout = "message_timeout";

    /// <summary>The client closed the socket itself, whatever code and reason it chose.</summary>
    public const string ClientClosed = "client_closed";

    /// <summary>Anything else, such as an internal error.</summary>
    public const string Other = "other";

    /// <summary>The close reason the gateway writes for a client that sends too fast.</summary>
    public const string RateLimitedText = "message rate limit exceeded";

    /// <summary>The close reason the gateway writes for a client that sends too many bytes per second.</summary>
    public const string ByteRateLimitedText = "byte rate limit exceeded";

    /// <summary>The close reason the gateway writes for a message not finished within its deadline.</summary>
    public const string MessageTimeoutText = "message not finished in time";

    /// <summary>The close reason the connection actor writes for a client that does not read.</summary>
    public const string SlowReaderText = "slow consumer";

    /// <summary>Classifies a close request.</summary>
    public static string Of(CloseRequest request) => request.Code switch
    {
        1000 or 1005 or 1006 => Normal,
        RelayCloseCodes.GoingAway => GoingAway,
        RelayCloseCodes.InvalidPayload => BadUtf8,
        RelayCloseCodes.MessageTooBig => Oversize,
        RelayCloseCodes.PolicyViolation when request.Reason is RateLimitedText or ByteRateLimitedText => RateLimited,
        RelayCloseCodes.PolicyViolation when request.Reason == MessageTimeoutText => MessageTimeout,
        RelayCloseCodes.PolicyViolation when request.Reason == SlowReaderText => SlowReader,
        _ => Other,
    };
}
