#nullable enable
namespace Relay.Actors;

/// <summary>Names shared by every node of a Relay cluster.</summary>
public static class RelayTopics
{
    /// <summary>The DistributedPubSub topic that carries sequenced patches and heartbeats.</summary>
    public const string Patches = "relay-patches";

    /// <summary>The persistence id of the one history; its journal sequence numbers are the patch sequence numbers.</summary>
    public const string HistoryPersistenceId = "relay-history";
}
