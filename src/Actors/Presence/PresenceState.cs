#nullable enable
namespace Relay.Actors.Presence;

/// <summary>
/// One present client of a document: its presence id (<paramref name="Client"/>), its <paramref name="User"/>, its
/// <paramref name="State"/> (a JSON object, UTF-8), the node its connection is on and that connection's
/// <paramref name="Incarnation"/>: of two connections under one presence id, the higher incarnation owns the entry.
/// </summary>
public sealed record PresenceEntry(string Client, string User, ReadOnlyMemory<byte> State, string Node, long Incarnation);

/// <summary>What happened to an entry of the list.</summary>
public enum PresenceChange
{
    /// <summary>The client is now present.</summary>
    Joined,

    /// <summary>The client's state (or the connection that owns its entry) changed.</summary>
    Updated,

    /// <summary>The client is no longer present.</summary>
    Left,
}

/// <summary>A change of the list: <paramref name="Entry"/> as it is now (for <see cref="PresenceChange.Left"/>, as it was).</summary>
internal sealed record PresenceEvent(PresenceChange Change, PresenceEntry Entry)
{
    /// <summary>Whether the entry belongs to a connection of <paramref name="node"/>.</summary>
    public bool IsOf(string node) => string.Equals(Entry.Node, node, StringComparison.Ordinal);
}

/// <summary>The presence limits of one node (<c>Relay:Presence</c>).</summary>
/// <param name="Timeout">A local connection not heard from this long leaves the list; a remote entry not refreshed this long expires.</param>
/// <param name="MaxUpdatesPerSecond">State updates one connection makes visible per second; the rest are coalesced, the latest kept.</param>
internal sealed record PresenceLimits(TimeSpan Timeout, int MaxUpdatesPerSecond);

/// <summary>
/// The presence list of one document as one node sees it, without an actor around it: the entries of this node's
/// connections, which it owns (each connection's lease, its coalesced updates, a newer connection under a name
/// replacing an older one), and the entries other nodes announced, which expire unless refreshed. Every change
/// comes back as <see cref="PresenceEvent"/>s; those of this node's own entries are the ones to tell the other
/// nodes. Times are milliseconds of one monotonic clock, given by the caller.
/// </summary>
internal sealed class PresenceState
{
    private const long WindowMs = 1000;

    private readonly string _self;
    private readonly long _timeoutMs;
    private readonly int _maxUpdatesPerSecond;

    // The list: what every receiver sees, by presence id; each with when it was last refreshed (remote entries).
    private readonly Dictionary<string, Listed> _listed = new(StringComparer.Ordinal);

    // This node's connections, by presence id: the newest connection under each name.
    private readonly Dictionary<string, Local> _local = new(StringComparer.Ordinal);

    /// <summary>Creates the empty list of node <paramref name="self"/>.</summary>
    public PresenceState(string self, PresenceLimits limits)
    {
        _self = self;
        _timeoutMs = (long)limits.Timeout.TotalMilliseconds;
        _maxUpdatesPerSecond = Math.Max(1, limits.MaxUpdatesPerSecond);
    }

    /// <summary>Every entry of the list.</summary>
    public IEnumerable<PresenceEntry> Entries => _listed.Values.Select(listed => listed.Entry);

    /// <summary>The entries of this node's connections: what its heartbeats announce.</summary>
    public IEnumerable<PresenceEntry> LocalEntries => Entries.Where(entry => entry.Node == _self);

    /// <summary>How many of this node's connections are present.</summary>
    public int LocalPresent => _listed.Values.Count(listed => listed.Entry.Node == _self);

    /// <summary>Whether anything is listed or connected: otherwise <see cref="Tick"/> has nothing to do.</summary>
    public bool IsEmpty => _listed.Count == 0 && _local.Count == 0;

    /// <summary>The list a client under <paramref name="client"/> gets: everyone but itself.</summary>
    public IReadOnlyList<PresenceEntry> ListFor(string client) =>
        _listed.Values.Where(listed => listed.Entry.Client != client).Select(listed => listed.Entry).ToList();

    /// <summary>
    /// A connection of this node under <paramref name="client"/> opened. A newer one takes over the entry of an older
    /// connection of this node under the name (a reconnect is not shown twice, and the older one's close no longer
    /// removes it); an older one than the name's connection is ignored.
    /// </summary>
    public IReadOnlyList<PresenceEvent> Connect(string client, string user, long incarnation, long now)
    {
        if (_local.TryGetValue(client, out var older) && older.Incarnation >= incarnation)
        {
            return [];
        }

        var local = new Local(user, incarnation) { LastHeard = now };
        _local[client] = local;
        if (older is null || !_listed.TryGetValue(client, out var listed) || listed.Entry.Node != _self)
        {
            return [];
        }

        // The new connection inherits the older one's state until it sets its own, under its own lease.
        local.State = listed.Entry.State;
        return [Put(listed.Entry with { User = user, Incarnation = incarnation }, now)];
    }

    /// <summary>A connection of this node closed (or its socket died): its entry leaves, unless a newer connection owns the name.</summary>
    public IReadOnlyList<PresenceEvent> Disconnect(string client, long incarnation)
    {
        if (!_local.TryGetValue(client, out var local) || local.Incarnation != incarnation)
        {
            return [];
        }

        _local.Remove(client);
        return RemoveOwn(client, incarnation);
    }

    /// <summary>
    /// A frame from the connection (any frame): its lease starts again, and a connection that had gone silent is back
    /// with its last state.
    /// </summary>
    public IReadOnlyList<PresenceEvent> Heard(string client, long incarnation, long now)
    {
        if (!_local.TryGetValue(client, out var local) || local.Incarnation != incarnation)
        {
            return [];
        }

        local.LastHeard = now;
        if (!local.Lapsed)
        {
            return [];
        }

        local.Lapsed = false;
        return local.State is { } state ? [Put(new PresenceEntry(client, local.User, state, _self, incarnation), now)] : [];
    }

    /// <summary>
    /// The connection sets its state (a frame, so it counts as <see cref="Heard"/> too). Within the rate it shows at once;
    /// over it, it replaces whatever waits and shows once the connection's second is over (<see cref="Tick"/>).
    /// </summary>
    public IReadOnlyList<PresenceEvent> Set(string client, long incarnation, ReadOnlyMemory<byte> state, long now)
    {
        var events = new List<PresenceEvent>(Heard(client, incarnation, now));
        if (!_local.TryGetValue(client, out var local) || local.Incarnation != incarnation)
        {
            return events;
        }

        if (now - local.WindowStart >= WindowMs)
        {
            local.WindowStart = now;
            local.WindowCount = 0;
        }

        if (local.WindowCount >= _maxUpdatesPerSecond)
        {
            local.Pending = state;
            return events;
        }

        local.WindowCount++;
        local.Pending = null;
        events.Add(Show(client, local, state, now));
        return events;
    }

    /// <summary>The connection clears its state: it leaves the list and stays connected; a waiting update is dropped.</summary>
    public IReadOnlyList<PresenceEvent> Clear(string client, long incarnation, long now)
    {
        if (!_local.TryGetValue(client, out var local) || local.Incarnation != incarnation)
        {
            return [];
        }

        local.LastHeard = now;
        local.Lapsed = false;
        local.State = null;
        local.Pending = null;
        return RemoveOwn(client, incarnation);
    }

    /// <summary>
    /// What time brings: coalesced updates whose second is over show, this node's connections silent for the timeout
    /// leave (still connected: their next frame brings them back), and other nodes' entries not refreshed within it expire.
    /// </summary>
    public IReadOnlyList<PresenceEvent> Tick(long now)
    {
        var events = new List<PresenceEvent>();
        foreach (var (client, local) in _local)
        {
            if (local.Pending is { } pending && now - local.WindowStart >= WindowMs)
            {
                local.WindowStart = now;
                local.WindowCount = 1;
                local.Pending = null;
                events.Add(Show(client, local, pending, now));
            }

            if (!local.Lapsed && now - local.LastHeard >= _timeoutMs)
            {
                local.Lapsed = true;
                events.AddRange(RemoveOwn(client, local.Incarnation));
            }
        }

        foreach (var listed in _listed.Values.Where(listed => listed.Entry.Node != _self && now - listed.Refreshed >= _timeoutMs).ToList())
        {
            _listed.Remove(listed.Entry.Client);
            events.Add(new PresenceEvent(PresenceChange.Left, listed.Entry));
        }

        return events;
    }

    /// <summary>
    /// Another node announces one of its entries (a change, or its heartbeat): it is listed, or refreshed, unless a
    /// newer connection under the name owns the entry. A connection of this node it supersedes no longer owns the name.
    /// </summary>
    public IReadOnlyList<PresenceEvent> Announced(PresenceEntry entry, long now)
    {
        if (entry.Node == _self)
        {
            return [];
        }

        if (_listed.TryGetValue(entry.Client, out var listed))
        {
            if (SameOwner(listed.Entry, entry) && listed.Entry.User == entry.User && listed.Entry.State.Span.SequenceEqual(entry.State.Span))
            {
                listed.Refreshed = now;
                return [];
            }

            if (!SameOwner(listed.Entry, entry) && !Newer(entry.Incarnation, entry.Node, listed.Entry.Incarnation, listed.Entry.Node))
            {
                return [];
            }
        }

        if (_local.TryGetValue(entry.Client, out var local) && Newer(local.Incarnation, _self, entry.Incarnation, entry.Node))
        {
            return [];
        }

        _local.Remove(entry.Client);
        return [Put(entry, now)];
    }

    /// <summary>Another node says one of its entries left: it leaves here too, unless a newer connection owns the name now.</summary>
    public IReadOnlyList<PresenceEvent> Withdrawn(string client, string node, long incarnation)
    {
        if (!_listed.TryGetValue(client, out var listed) || listed.Entry.Node != node || node == _self || listed.Entry.Incarnation > incarnation)
        {
            return [];
        }

        _listed.Remove(client);
        return [new PresenceEvent(PresenceChange.Left, listed.Entry)];
    }

    /// <summary>Node <paramref name="node"/> is unreachable or gone: every entry of it leaves at once.</summary>
    public IReadOnlyList<PresenceEvent> DropNode(string node)
    {
        if (node == _self)
        {
            return [];
        }

        var dropped = _listed.Values.Where(listed => listed.Entry.Node == node).ToList();
        foreach (var listed in dropped)
        {
            _listed.Remove(listed.Entry.Client);
        }

        return dropped.Select(listed => new PresenceEvent(PresenceChange.Left, listed.Entry)).ToList();
    }

    private PresenceEvent Show(string client, Local local, ReadOnlyMemory<byte> state, long now)
    {
        local.State = state;
        return Put(new PresenceEntry(client, local.User, state, _self, local.Incarnation), now);
    }

    private PresenceEvent Put(PresenceEntry entry, long now)
    {
        var joined = !_listed.ContainsKey(entry.Client);
        _listed[entry.Client] = new Listed(entry) { Refreshed = now };
        return new PresenceEvent(joined ? PresenceChange.Joined : PresenceChange.Updated, entry);
    }

    private IReadOnlyList<PresenceEvent> RemoveOwn(string client, long incarnation)
    {
        if (!_listed.TryGetValue(client, out var listed) || listed.Entry.Node != _self || listed.Entry.Incarnation != incarnation)
        {
            return [];
        }

        _listed.Remove(client);
        return [new PresenceEvent(PresenceChange.Left, listed.Entry)];
    }

    private static bool SameOwner(PresenceEntry a, PresenceEntry b) => a.Node == b.Node && a.Incarnation == b.Incarnation;

    // Incarnations are times of connection (unique per node), so a tie between two nodes is broken by the node's name.
    private static bool Newer(long incarnation, string node, long otherIncarnation, string otherNode) =>
        incarnation > otherIncarnation || (incarnation == otherIncarnation && string.CompareOrdinal(node, otherNode) > 0);

    private sealed class Listed(PresenceEntry entry)
    {
        public PresenceEntry Entry { get; } = entry;

        public long Refreshed { get; set; }
    }

    private sealed class Local(string user, long incarnation)
    {
        public string User { get; } = user;

        public long Incarnation { get; } = incarnation;

        /// <summary>The last state shown (kept while the connection is silent, to bring it back); null: not present.</summary>
        public ReadOnlyMemory<byte>? State { get; set; }

        /// <summary>An update over the rate, waiting for the connection's second to end; the latest wins.</summary>
        public ReadOnlyMemory<byte>? Pending { get; set; }

        public long LastHeard { get; set; }

        public bool Lapsed { get; set; }

        public long WindowStart { get; set; } = long.MinValue / 2;

        public int WindowCount { get; set; }
    }
}

/// <summary>One change of the list for a client (<c>presence</c>): <paramref name="Change"/> of <paramref name="Entry"/>.</summary>
public sealed record PresenceFrame(PresenceChange Change, PresenceEntry Entry) : Connections.EphemeralFrame
{
    /// <inheritdoc />
    public override int QueuedBytes => SizeOf(Entry);

    /// <summary>What an entry counts against the client's ephemeral lane: its state, names and room for the header.</summary>
    public static int SizeOf(PresenceEntry entry) => entry.State.Length + entry.Client.Length + entry.User.Length + 48;

    /// <summary>The frame of <paramref name="change"/>.</summary>
    internal static PresenceFrame Of(PresenceEvent change) => new(change.Change, change.Entry);
}
