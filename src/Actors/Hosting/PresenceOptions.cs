#nullable enable
using Relay.Actors.Presence;

namespace Relay.Actors.Hosting;

/// <summary>
/// Presence and broadcasts of <c>relay.v1</c> clients (<c>Relay:Presence</c>, docs/protocol.md "Presence and broadcasts"):
/// the one source of these settings for the actors, the hello and the Gateway's checks.
/// </summary>
public sealed class PresenceOptions
{
    /// <summary>Whether this node speaks presence; off, the frames are refused and nothing else changes.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>A present client not heard from this long leaves the list; a node's entries not refreshed this long expire.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>The largest presence state, in bytes of UTF-8 JSON.</summary>
    public int MaxStateBytes { get; set; } = 4096;

    /// <summary>Presence updates of one connection shown per second; the rest are coalesced (the latest wins).</summary>
    public int MaxUpdatesPerSecond { get; set; } = 20;

    /// <summary>Bytes of presence and broadcast frames queued for one client; beyond, new ones are dropped (never patches).</summary>
    public long MaxQueuedBytes { get; set; } = 256 * 1024;

    /// <summary>Throws when a setting cannot work.</summary>
    public void Validate()
    {
        if (TimeoutSeconds < 1)
        {
            throw new InvalidOperationException("Relay:Presence:TimeoutSeconds must be positive");
        }

        if (MaxStateBytes < 2)
        {
            throw new InvalidOperationException("Relay:Presence:MaxStateBytes must be at least 2 (the empty object)");
        }

        if (MaxUpdatesPerSecond < 1)
        {
            throw new InvalidOperationException("Relay:Presence:MaxUpdatesPerSecond must be positive");
        }

        if (MaxQueuedBytes < MaxStateBytes)
        {
            throw new InvalidOperationException("Relay:Presence:MaxQueuedBytes must be at least Relay:Presence:MaxStateBytes");
        }
    }

    /// <summary>The actors' presence settings; null with presence off.</summary>
    internal PresenceSettings? Settings =>
        Enabled ? new PresenceSettings(new PresenceLimits(TimeSpan.FromSeconds(TimeoutSeconds), MaxUpdatesPerSecond)) { MaxStateBytes = MaxStateBytes } : null;
}
