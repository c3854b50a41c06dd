using System.Diagnostics.Metrics;
using Relay.Actors.Diagnostics;
using Relay.Gateway.Sockets;

namespace Relay.Gateway.Operations;

/// <summary>
/// The Gateway's instruments: what its sockets take in, write out and how they end. On a meter named like the
/// actors' (<see cref="RelayMetrics.MeterName"/>), so that one exporter takes both. Static, so the socket loops
/// record without any wiring; with no listener attached a recording is a single branch, and none allocates.
/// </summary>
public static class SocketMetrics
{
    private static readonly Meter Meter = new(RelayMetrics.MeterName, typeof(SocketMetrics).Assembly.GetName().Version?.ToString());

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

    private static readonly Counter<long> Disconnects =
        Meter.CreateCounter<long>("relay.disconnects", "{connection}", "Closed connections by reason");

    private static readonly KeyValuePair<string, object?>[] Labels =
        Enum.GetValues<Disconnect>().Select(reason => new KeyValuePair<string, object?>("reason", LabelOf(reason))).ToArray();

    /// <summary>Counts a closed connection under what it counts as.</summary>
    public static void RecordDisconnect(Disconnect reason) => Disconnects.Add(1, Labels[(int)reason]);

    /// <summary>The <c>reason</c> label of <paramref name="reason"/>.</summary>
    public static string LabelOf(Disconnect reason) => reason switch
    {
        Disconnect.Normal => "normal",
        Disconnect.GoingAway => "going_away",
        Disconnect.SlowReader => "slow_reader",
        Disconnect.RateLimited => "rate_limited",
        Disconnect.Oversize => "oversize",
        Disconnect.BadUtf8 => "bad_utf8",
        Disconnect.MessageTimeout => "message_timeout",
        Disconnect.ClientClosed => "client_closed",
        _ => "other",
    };
}
