#nullable enable
using Akka.Actor;
using Akka.Event;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Cluster.Sharding;
using Akka.Discovery.Config.Hosting;
using Akka.Discovery.KubernetesApi;
using Akka.Management.Cluster.Bootstrap;
using Akka.Management.Dsl;
using Akka.Persistence.Sql.Hosting;
using Akka.Persistence.Sql.Query;
using Akka.Remote.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using Relay.Actors.Connections;
using Relay.Actors.Documents;
using Relay.Actors.Diagnostics;
using Relay.Actors.Fanout;
using Relay.Actors.History;
using Relay.Actors.Journal;
using Relay.Actors.Retention;
using Relay.Actors.Webhooks;
using Relay.Actors.Messages;
using Relay.Actors.Serialization;

namespace Relay.Actors.Hosting;

/// <summary>
/// Marker for the <see cref="ActorRegistry"/> entry that reaches every document's sequencer: the singleton proxy
/// (<c>singleton</c> placement) or the shard region (<c>sharded</c>). Both take <see cref="IDocumentCommand"/>s.
/// </summary>
public sealed class HistoryProxy;

/// <summary>Marker for the <see cref="ActorRegistry"/> entry of the webhook dispatcher's singleton manager.</summary>
public sealed class WebhookDispatcher;

/// <summary>Marker for the <see cref="ActorRegistry"/> entry of the retention sweeper's singleton (<c>Relay:Retention</c>).</summary>
public sealed class RetentionSweeper;

/// <summary>Akka.Hosting wiring of a Relay node.</summary>
public static class RelayHostingExtensions
{
    /// <summary>The actor system's name: node addresses read <c>akka.tcp://relay@HOST:PORT</c>.</summary>
    public const string ActorSystemName = "relay";

    /// <summary>
    /// Configures remoting, clustering, the journal, the serializer, the sequencer singleton and the node's
    /// patch hub. <paramref name="status"/> is shared with the gateway for readiness.
    /// </summary>
    public static AkkaConfigurationBuilder WithRelay(
        this AkkaConfigurationBuilder builder,
        RelayOptions options,
        NodeStatus status,
        string? hoconPath = null)
    {
        options.Validate();
        if (hoconPath is not null && File.Exists(hoconPath))
        {
            builder.AddHoconFile(hoconPath, HoconAddMode.Append);
        }

        var connectionString = options.Journal.ConnectionString!;
        if (options.Journal.IsSqlite)
        {
            PrepareSqlite(connectionString);
        }

        // A patch crosses nodes inside an AppendPatch or PatchAppended; leave room for the envelope.
        var frameSize = Math.Max(128_000, options.MaxMessageBytes + 64 * 1024);

        builder
            .WithRemoting(new RemoteOptions
            {
                HostName = options.Akka.Hostname,
                Port = options.Akka.Port,
                MaxFrameSize = frameSize,
                SendBufferSize = frameSize * 2,
                ReceiveBufferSize = frameSize * 2,
            }.WithRelayTls(options.Akka.Tls))
            .WithClustering(new ClusterOptions
            {
                SeedNodes = options.Akka.EffectiveSeedNodes ?? [],
                SplitBrainResolver = new KeepMajorityOption(),
            })
            .WithDistributedPubSub(null!)
            .WithSqlPersistence(
                connectionString: connectionString,
                providerName: options.Journal.ProviderName,
                autoInitialize: true)
            .WithCustomSerializer("relay", [typeof(IRelayMessage)], system => new RelaySerializer(system))
            .WithRelaySequencers(options, status)
            .WithRelayWebhooks(options.Webhooks)
            .WithRelayRetention(options)
            .WithActors((system, registry) =>
            {
                var tail = TailLimits.From(options);
                RelayMetrics.ObserveReplayTail(tail?.Node);
                var hubs = system.ActorOf(
                    DocumentHubsActor.Props(
                        DistributedPubSub.Get(system).Mediator,
                        registry.Get<HistoryProxy>(),
                        CreateHistoryReader(system, options, status),
                        HubSettings.Default with { Held = HeldLimits.From(options), Tail = tail, HistoryDeleted = options.Compaction.DeleteCompacted, Presence = options.Presence.Settings },
                        status),
                    "documents");
                registry.Register<DocumentHubsActor>(hubs);
            });

        if (options.Akka.Bootstrap.IsEnabled)
        {
            builder.WithRelayBootstrap(options.Akka);
        }
        else if (options.Akka.EffectiveSeedNodes is null)
        {
            // No seeds and a port picked at start: this node is a cluster of its own, joined by hand. (With a port, it
            // is its own only seed, which Akka joins at once without reporting a "manual cluster join required".)
            builder.AddStartup((system, _) =>
            {
                var cluster = Akka.Cluster.Cluster.Get(system);
                cluster.Join(cluster.SelfAddress);
            });
        }

        // Run the journal's write, replay-read and recovery paths on one patch of the node's own, once the node is
        // ready: the first clients then do not wait for the journal, the query, the serializer and the stream stages
        // to be compiled (the first patch of a fresh node took 210 ms without, most of it the first write). Not
        // before ready: by then the default document's sequencer has created the journal's and the snapshot store's
        // tables, which nodes starting at once on an empty database would otherwise all try to create together.
        // Off the start-up path and best effort: a journal that is slow to come up must not delay or fail the start.
        builder.AddStartup((system, _) =>
        {
            var self = Akka.Cluster.Cluster.Get(system).SelfAddress;
            Task.Run(async () =>
                {
                    await status.FirstReady;
                    var id = JournalWarmUp.PersistenceIdOf(self);
                    var journal = CreatePatchJournal(system);
                    var materializer = system.Materializer();
                    await JournalWarmUp.RunAsync(system, id, TimeSpan.FromSeconds(30), readBack: async () =>
                    {
                        // The row path on the warm-up's own patch, then a joiner's reader on the default document's
                        // first patch, if any (the first joiner of a node waited about 30 ms for both to compile).
                        await journal.Read(id, 1).RunWith(Sink.Ignore<PatchAppended>(), materializer);
                        await CreateHistoryReader(system, options, status, journal)
                            .ReadAsync(DocumentName.Default, 1, 1, 1, _ => ValueTask.CompletedTask, materializer);
                        await ConnectionActor.WarmUpTailCatchUpAsync();
                    });
                })
                .ContinueWith(warmUp =>
                {
                    if (warmUp.IsFaulted)
                    {
                        system.Log.Debug("Journal warm-up failed: {0}", warmUp.Exception?.GetBaseException().Message);
                    }

                    status.MarkWarmedUp();
                });
        });

        return builder;
    }

    /// <summary>The read journal that serves replay and gap filling.</summary>
    internal static QueryPatchJournal CreatePatchJournal(ActorSystem system) => new(system, SqlReadJournal.Identifier);

    /// <summary>
    /// The node's reader of histories: windows of <c>Relay:Replay:MaxBufferedBytes</c>, never more rows than the read
    /// journal's page (<c>max-buffer-size</c> in akka.hocon), holes registered in <paramref name="status"/>; it reads
    /// <paramref name="journal"/> if given, else the node's read journal.
    /// </summary>
    internal static HistoryReader CreateHistoryReader(ActorSystem system, RelayOptions options, NodeStatus status, IPatchJournal? journal = null)
    {
        var page = system.Settings.Config.GetInt($"{SqlReadJournal.Identifier}.max-buffer-size", 500);
        var settings = new ReplaySettings(options.Replay.MaxBufferedBytes, options.MaxMessageBytes, page, options.Journal.SkipGapAfter);
        return new HistoryReader(journal ?? CreatePatchJournal(system), status.Holes, settings, Logging.GetLogger(system, typeof(HistoryReader)));
    }

    /// <summary>
    /// Hosts the documents' sequencers as <c>Relay:Documents:Placement</c> says: under the cluster singleton, or
    /// in Akka.Cluster.Sharding with one entity per document (coordinator state in distributed data, no
    /// remembered entities). Either way <see cref="HistoryProxy"/> reaches them, and a document's sequencer
    /// stops itself after <c>Relay:Documents:PassivateAfter</c> idle.
    /// </summary>
    private static AkkaConfigurationBuilder WithRelaySequencers(this AkkaConfigurationBuilder builder, RelayOptions options, NodeStatus status)
    {
        // Recovery replays what came after the last snapshot: bounded by the same budget as a joiner's replay.
        var settings = HistorySettings.Default with
        {
            PassivateAfter = options.Documents.PassivateAfter,
            SnapshotEveryBytes = options.Replay.MaxBufferedBytes,
            Compaction = options.Compaction.ParsedMode,
            InitialState = options.Compaction.InitialStateUtf8,
            DeleteCompacted = options.Compaction.DeleteCompacted,
            CompactionFloorBytes = options.Compaction.SnapshotFloorBytes,
            Journal = new JournalSql(options.Journal),
        };
        Props SequencerProps(ActorSystem system, DocumentName document) =>
            HistoryActor.Props(document, DistributedPubSub.Get(system).Mediator, status, settings);

        if (options.Documents.IsSharded)
        {
            return builder.WithShardRegion<HistoryProxy>(
                "documents",
                (system, _, _) => entityId => SequencerProps(system, DocumentName.Parse(entityId)),
                new DocumentMessageExtractor(),
                new ShardOptions
                {
                    StateStoreMode = StateStoreMode.DData,
                    RememberEntities = false,
                    HandOffStopMessage = HistoryActor.StopSequencer.Instance,
                    // The sequencers passivate themselves, so the default document's never does.
                    ShouldPassivateIdleEntities = false,
                });
        }

        return builder.WithSingleton<HistoryProxy>(
            "history",
            (system, _, _) => HistoryHostActor.Props(document => SequencerProps(system, document)),
            new ClusterSingletonOptions { BufferSize = 10_000, TerminationMessage = HistoryActor.StopSequencer.Instance },
            createProxyToo: true);
    }

    /// <summary>
    /// With <c>Relay:Webhooks:Url</c> set, the cluster's one webhook dispatcher, a cluster singleton (on the oldest
    /// node; it moves when that node goes), sending through the host's <see cref="IWebhookSender"/>.
    /// </summary>
    // One sweeper for the cluster, on the oldest node, as the webhook dispatcher.
    private static AkkaConfigurationBuilder WithRelayRetention(this AkkaConfigurationBuilder builder, RelayOptions options)
    {
        if (!options.Retention.IsEnabled)
        {
            return builder;
        }

        return builder.WithSingleton<RetentionSweeper>(
            "retention",
            (_, registry, _) => RetentionActor.Props(options.Retention, new JournalSql(options.Journal), registry.Get<HistoryProxy>()),
            new ClusterSingletonOptions(),
            createProxyToo: false);
    }

    private static AkkaConfigurationBuilder WithRelayWebhooks(this AkkaConfigurationBuilder builder, WebhookOptions webhooks)
    {
        if (!webhooks.IsEnabled)
        {
            return builder;
        }

        var settings = new WebhookSettings(webhooks.Prefix, webhooks.MaxBatch, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(webhooks.MaxBackoffSeconds));
        return builder.WithSingleton<WebhookDispatcher>(
            "webhooks",
            (system, _, resolver) => WebhookActor.Props(
                resolver.GetService<IWebhookSender>() ?? throw new InvalidOperationException("Relay:Webhooks:Url is set, but the host registered no IWebhookSender"),
                CreatePatchJournal(system),
                settings),
            new ClusterSingletonOptions(),
            createProxyToo: false);
    }

    /// <summary>
    /// Cluster Bootstrap without Akka.Management's HTTP server (its Ceen.Httpd build fails at start on the Ceen served):
    /// discovery lists the contact points, the bootstrap probes them over plain HTTP, and the Gateway's Kestrel answers
    /// the probes (<see cref="BootstrapSeedNodes"/>). Several contact points may share a host (one per port on a
    /// developer's machine), so the ports are not filtered; every one must answer before a new cluster forms.
    /// </summary>
    private static AkkaConfigurationBuilder WithRelayBootstrap(this AkkaConfigurationBuilder builder, AkkaNodeOptions akka)
    {
        var bootstrap = akka.Bootstrap;
        builder.WithClusterBootstrap(
            setup =>
            {
                setup.ContactPointDiscovery.ServiceName = bootstrap.ServiceName;
                setup.ContactPointDiscovery.RequiredContactPointsNr = bootstrap.RequiredContactPoints;
                setup.ContactPointDiscovery.ContactWithAllContactPoints = true;
                setup.ContactPoint.FilterOnFallbackPort = false;
                setup.ContactPoint.FallbackPort = bootstrap.ManagementPort;
            },
            autoStart: false);

        if (bootstrap.Method == BootstrapOptions.ConfigDiscovery)
        {
            builder.WithConfigDiscovery(discovery => discovery.Services =
            [
                new Service { Name = bootstrap.ServiceName, Endpoints = bootstrap.ContactPoints },
            ]);
        }
        else
        {
            builder.WithKubernetesDiscovery(discovery =>
            {
                discovery.PodLabelSelector = bootstrap.PodLabelSelector.Replace("{0}", "%s", StringComparison.Ordinal);
                if (!string.IsNullOrWhiteSpace(bootstrap.PodNamespace))
                {
                    discovery.PodNamespace = bootstrap.PodNamespace;
                }
            });
        }

        // Routes() is how Akka.Management hands the bootstrap its own contact point; without its HTTP server, Relay does.
        return builder.AddStartup((system, _) =>
        {
            var formation = ClusterBootstrap.Get(system);
            formation.Routes(ManagementRouteProviderSettings.Create(bootstrap.SelfUri(akka.Hostname), readOnly: true));
            formation.Start().ContinueWith(
                start => system.Log.Error(start.Exception?.GetBaseException(), "Cluster Bootstrap did not start; this node will not join a cluster"),
                TaskContinuationOptions.OnlyOnFaulted);
        });
    }

    /// <summary>
    /// Makes a SQLite connection string absolute (relative to <paramref name="contentRoot"/>), or returns the
    /// default file <c>data/relay.db</c> under it when <paramref name="connectionString"/> is empty.
    /// </summary>
    public static string ResolveSqliteConnectionString(string? connectionString, string contentRoot)
    {
        var csb = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(connectionString) ? "Data Source=data/relay.db" : connectionString);
        if (csb.DataSource != ":memory:" && !Path.IsPathRooted(csb.DataSource))
        {
            csb.DataSource = Path.GetFullPath(Path.Combine(contentRoot, csb.DataSource));
        }

        return csb.ConnectionString;
    }

    private static void PrepareSqlite(string connectionString)
    {
        var dataSource = new SqliteConnectionStringBuilder(connectionString).DataSource;
        var directory = Path.GetDirectoryName(dataSource);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        // Write-ahead logging lets replay read while the journal writes; it is a property of the file.
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }
}
