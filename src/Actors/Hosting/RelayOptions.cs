#nullable enable
namespace Relay.Actors.Hosting;

/// <summary>Relay's configuration, bound from the <c>Relay</c> section (appsettings.json, <c>Relay__...</c> variables, <c>--Relay:...</c> arguments).</summary>
public sealed class RelayOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Relay";

    /// <summary>Cluster settings.</summary>
    public AkkaNodeOptions Akka { get; set; } = new();

    /// <summary>Journal settings.</summary>
    public JournalOptions Journal { get; set; } = new();

    /// <summary>Document settings.</summary>
    public DocumentsOptions Documents { get; set; } = new();

    /// <summary>How the history is read for joiners and gaps.</summary>
    public ReplayOptions Replay { get; set; } = new();

    /// <summary>Snapshots of the documents' folded state, served to joiners instead of the whole history.</summary>
    public CompactionOptions Compaction { get; set; } = new();

    /// <summary>Webhooks: the patches of a prefix of documents POSTed to a receiver.</summary>
    public WebhookOptions Webhooks { get; set; } = new();

    /// <summary>Retention: per prefix of documents, how much of each history is kept under its snapshot.</summary>
    public RetentionOptions Retention { get; set; } = new();

    /// <summary>Presence and broadcasts of <c>relay.v1</c> clients.</summary>
    public PresenceOptions Presence { get; set; } = new();

    /// <summary>The largest message a client may send, in bytes; the Gateway closes a client that sends a larger one.</summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>Bytes queued for one client before it is closed as a slow consumer.</summary>
    public long MaxOutboundBytesPerConnection { get; set; } = 8L * 1024 * 1024;

    /// <summary>
    /// Frames of one client that may wait for the journal before the client stops being read; a frame over
    /// 4 KiB counts once per started 4 KiB, so at most this many times 4 KiB wait per client.
    /// </summary>
    public int MaxInFlightPerConnection { get; set; } = 1024;

    /// <summary>
    /// Seconds a client's frames may go unconfirmed by the sequencer (journal down, no sequencer) before the
    /// client is closed as unavailable ("try again later"); the frames it had sent stay queued for the sequencer.
    /// </summary>
    public int UnavailableAfterSeconds { get; set; } = 30;

    /// <summary>Throws when a setting cannot work.</summary>
    public void Validate()
    {
        if (MaxMessageBytes < 1)
        {
            throw new InvalidOperationException("Relay:MaxMessageBytes must be positive");
        }

        if (MaxOutboundBytesPerConnection < MaxMessageBytes)
        {
            throw new InvalidOperationException("Relay:MaxOutboundBytesPerConnection must be at least Relay:MaxMessageBytes");
        }

        if (MaxInFlightPerConnection < 1)
        {
            throw new InvalidOperationException("Relay:MaxInFlightPerConnection must be positive");
        }

        if (UnavailableAfterSeconds < 1)
        {
            throw new InvalidOperationException("Relay:UnavailableAfterSeconds must be positive");
        }

        if (Akka.Port is < 0 or > 65535)
        {
            throw new InvalidOperationException("Relay:Akka:Port must be a TCP port (0 picks a free one)");
        }

        Akka.Tls.Validate();
        Akka.Bootstrap.Validate(Akka);
        var scheme = Akka.Tls.Enabled ? "akka.ssl.tcp://" : "akka.tcp://";
        if (Akka.SeedNodes.FirstOrDefault(seed => !seed.StartsWith(scheme, StringComparison.Ordinal)) is { } seed)
        {
            throw new InvalidOperationException(
                $"Relay:Akka:SeedNodes entry '{seed}' must start with {scheme} (TLS between nodes is {(Akka.Tls.Enabled ? "on" : "off")}, Relay:Akka:Tls:Enabled)");
        }

        _ = Journal.ProviderName;
        _ = Documents.IsSharded;
        if (Documents.MaxOpenPerNode < 1)
        {
            throw new InvalidOperationException("Relay:Documents:MaxOpenPerNode must be positive");
        }

        if (Documents.PassivateAfter < TimeSpan.Zero)
        {
            throw new InvalidOperationException("Relay:Documents:PassivateAfter must be zero (never) or positive");
        }

        if (Replay.MaxBufferedBytes < 1)
        {
            throw new InvalidOperationException("Relay:Replay:MaxBufferedBytes must be positive");
        }

        if (Replay.TailBytesPerDocument < 0 || Replay.TailBytesPerNode < 0)
        {
            throw new InvalidOperationException("Relay:Replay:TailBytesPerDocument and Relay:Replay:TailBytesPerNode must be zero (off) or positive");
        }

        if (Journal.SkipGapAfter <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Relay:Journal:SkipGapAfter must be positive");
        }

        Presence.Validate();
        _ = Compaction.ParsedMode;
        _ = Compaction.InitialStateUtf8;
        Webhooks.Validate();
        Retention.Validate(Compaction.ParsedMode != Relay.Actors.Compaction.CompactionMode.None);
        if (Compaction.SnapshotFloorBytes < 1)
        {
            throw new InvalidOperationException("Relay:Compaction:SnapshotFloorBytes must be positive");
        }
    }

    /// <summary>
    /// Resolves what depends on where the node runs: a relative SQLite path (or none) becomes a file under
    /// <paramref name="contentRoot"/>.
    /// </summary>
    public void ResolveFor(string contentRoot)
    {
        if (Journal.IsSqlite)
        {
            Journal.ConnectionString = RelayHostingExtensions.ResolveSqliteConnectionString(Journal.ConnectionString, contentRoot);
        }
    }
}

/// <summary>
/// Compaction (docs/operations.md, "Compaction"): the sequencer folds each document's patches into its state and
/// snapshots it; a joiner gets the snapshot as one patch that replaces the root, then the patches after it.
/// </summary>
public sealed class CompactionOptions
{
    /// <summary><c>none</c> (default): every joiner replays the whole history. <c>immer</c>: patches are JSON arrays of Immer patches. <c>json-patch</c>: RFC 6902.</summary>
    public string Mode { get; set; } = "none";

    /// <summary>The state every document starts from, as JSON.</summary>
    public string InitialState { get; set; } = "{}";

    /// <summary>Delete the journal events a snapshot covers; the history before the latest snapshots is then gone.</summary>
    public bool DeleteCompacted { get; set; }

    /// <summary>
    /// A snapshot is due once the patches since the last one are as many bytes as the state, and at least this many, so
    /// that a small state is not written after every patch.
    /// </summary>
    public long SnapshotFloorBytes { get; set; } = 16 * 1024;

    /// <summary><see cref="Mode"/> parsed.</summary>
    public Relay.Actors.Compaction.CompactionMode ParsedMode => Relay.Actors.Compaction.DocumentFold.ParseMode(Mode);

    /// <summary><see cref="InitialState"/> checked and as UTF-8.</summary>
    public byte[] InitialStateUtf8 => Relay.Actors.Compaction.DocumentFold.ParseInitialState(InitialState);
}

/// <summary>How much of the history a node holds in memory while it reads it.</summary>
public sealed class ReplayOptions
{
    /// <summary>
    /// Bytes of history one reader (a joining connection, a document's gap filling) holds at a time, and bytes of
    /// live patches held while it reads; past that, live patches are dropped and read from the journal later.
    /// A window may hold one message more. A sequencer also snapshots once this many bytes were journaled since
    /// its last snapshot, so its recovery reads about this much.
    /// </summary>
    public long MaxBufferedBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>
    /// Bytes of the latest patches each document's hub keeps in memory (each counted as its payload plus 256 bytes), so
    /// that a joiner whose history lies in them reads no journal. 0 turns the tail off.
    /// </summary>
    public long TailBytesPerDocument { get; set; } = 64L * 1024 * 1024;

    /// <summary>Bytes every document's tail on one node keeps together; a hub over it drops its own oldest. 0 turns the tail off.</summary>
    public long TailBytesPerNode { get; set; } = 256L * 1024 * 1024;
}

/// <summary>Where the documents' sequencers live and how many documents a node opens.</summary>
public sealed class DocumentsOptions
{
    /// <summary>
    /// <c>singleton</c> (default): every document's sequencer lives under the one cluster singleton.
    /// <c>sharded</c>: Akka.Cluster.Sharding spreads them over the nodes, one entity per document.
    /// </summary>
    public string Placement { get; set; } = "singleton";

    /// <summary>A document's sequencer idle this long (no append, no node opening it) stops until its next message. Zero: never.</summary>
    public TimeSpan PassivateAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Documents one node has connections to; an upgrade that would open one more gets 503.</summary>
    public int MaxOpenPerNode { get; set; } = 10_000;

    /// <summary>Whether <see cref="Placement"/> is <c>sharded</c>.</summary>
    public bool IsSharded => Placement.ToLowerInvariant() switch
    {
        "singleton" => false,
        "sharded" => true,
        _ => throw new InvalidOperationException($"Relay:Documents:Placement '{Placement}' is not supported; use singleton or sharded"),
    };
}

/// <summary>How this node joins the Akka cluster.</summary>
public sealed class AkkaNodeOptions
{
    /// <summary>The address other nodes reach this one at.</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>The Akka.Remote port; 0 picks a free one.</summary>
    public int Port { get; set; } = 4053;

    /// <summary>
    /// Seed node addresses (<c>akka.tcp://relay@host:port</c>, <c>akka.ssl.tcp://...</c> with TLS); empty: this node
    /// forms a cluster of its own.
    /// </summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>TLS with mutual authentication between nodes.</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>Cluster Bootstrap as the formation, instead of <see cref="SeedNodes"/>.</summary>
    public BootstrapOptions Bootstrap { get; set; } = new();

    /// <summary>This node's own address, <c>akka.tcp://relay@host:port</c> (<c>akka.ssl.tcp</c> with TLS); null while the port is 0 (picked at start).</summary>
    public string? SelfAddress =>
        Port == 0 ? null : $"{(Tls.Enabled ? "akka.ssl.tcp" : "akka.tcp")}://{RelayHostingExtensions.ActorSystemName}@{Hostname}:{Port}";

    /// <summary>
    /// The seeds the cluster starts from: none with <see cref="Bootstrap"/> on (it joins the node), else <see cref="SeedNodes"/>,
    /// or with none this node alone, so that it forms a cluster of its own the way a first seed does (null with port 0: the
    /// node then joins itself once it knows its port).
    /// </summary>
    public string[]? EffectiveSeedNodes =>
        Bootstrap.IsEnabled ? [] : SeedNodes.Length > 0 ? SeedNodes : SelfAddress is { } self ? [self] : null;
}

/// <summary>Where the history is journaled.</summary>
public sealed class JournalOptions
{
    /// <summary><c>sqlite</c> (default) or <c>postgresql</c>.</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>The connection string; empty: a SQLite file under <c>data/</c> of the content root.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// A sequence number the journal lacks while a later one is there is skipped as a hole once the gap has lasted
    /// this long (a row committed out of order shows up well within it); a gap with no later row is waited for.
    /// </summary>
    public TimeSpan SkipGapAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The Akka.Persistence.Sql (linq2db) provider name for <see cref="Provider"/>.</summary>
    public string ProviderName => Provider.ToLowerInvariant() switch
    {
        "sqlite" => "SQLite.MS",
        "postgresql" or "postgres" => "PostgreSQL.15",
        _ => throw new InvalidOperationException($"Relay:Journal:Provider '{Provider}' is not supported; use sqlite or postgresql"),
    };

    /// <summary>Whether the journal is a SQLite file.</summary>
    public bool IsSqlite => ProviderName == "SQLite.MS";
}
