#nullable enable
using Akka.Actor;
using Akka.Event;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Pattern;
using Akka.Persistence.Sql.Hosting;
using Akka.Persistence.Sql.Query;
using Akka.Remote.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using Relay.Actors.Connections;
using Relay.Actors.Fanout;
using Relay.Actors.History;
using Relay.Actors.Journal;
using Relay.Actors.Messages;
using Relay.Actors.Serialization;

namespace Relay.Actors.Hosting;

/// <summary>Marker for the <see cref="ActorRegistry"/> entry of the sequencer's singleton proxy.</summary>
public sealed class HistoryProxy;

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
            })
            .WithClustering(new ClusterOptions
            {
                SeedNodes = options.Akka.SeedNodes,
                SplitBrainResolver = new KeepMajorityOption(),
            })
            .WithDistributedPubSub(null!)
            .WithSqlPersistence(
                connectionString: connectionString,
                providerName: options.Journal.ProviderName,
                autoInitialize: true)
            .WithCustomSerializer("relay", [typeof(IRelayMessage)], system => new RelaySerializer(system))
            .WithSingleton<HistoryProxy>(
                "history",
                (system, _, _) => BackoffSupervisor.Props(
                    Backoff.OnStop(
                            HistoryActor.Props(DistributedPubSub.Get(system).Mediator, HistorySettings.Default),
                            "sequencer",
                            TimeSpan.FromMilliseconds(200),
                            TimeSpan.FromSeconds(5),
                            0.2,
                            -1)
                        .WithFinalStopMessage(message => message is HistoryActor.StopSequencer)),
                new ClusterSingletonOptions { BufferSize = 10_000, TerminationMessage = HistoryActor.StopSequencer.Instance },
                createProxyToo: true)
            .WithActors((system, registry) =>
            {
                var hub = system.ActorOf(PatchHubActor.Props(DistributedPubSub.Get(system).Mediator, status), "patch-hub");
                registry.Register<PatchHubActor>(hub);
            });

        if (options.Akka.SeedNodes.Length == 0)
        {
            // No seeds: this node is a cluster of its own.
            builder.AddStartup((system, _) =>
            {
                var cluster = Akka.Cluster.Cluster.Get(system);
                cluster.Join(cluster.SelfAddress);
            });
        }

        // Read one patch through the replay path as soon as the node starts: the first client to join then
        // does not wait for the query, the deserializer and the stream stages to be compiled.
        // Off the start-up path and best effort: a journal that is slow to come up must not delay or fail the start.
        builder.AddStartup((system, _) =>
        {
            Task.Run(() => CreatePatchJournal(system).Read(1, 1).RunWith(Sink.Ignore<PatchAppended>(), system.Materializer()))
                .ContinueWith(
                    warmUp => system.Log.Debug("Replay path warm-up failed: {0}", warmUp.Exception?.GetBaseException().Message),
                    TaskContinuationOptions.OnlyOnFaulted);
        });

        return builder;
    }

    /// <summary>The read journal that serves replay and gap filling.</summary>
    public static IPatchJournal CreatePatchJournal(ActorSystem system) => new QueryPatchJournal(system, SqlReadJournal.Identifier);

    /// <summary>Creates a <see cref="ConnectionActor"/> for a new client.</summary>
    public static IActorRef OpenConnection(
        ActorSystem system,
        IActorRegistry registry,
        IPatchJournal journal,
        string connectionId,
        ClientLink link,
        ConnectionSettings settings) =>
        system.ActorOf(
            ConnectionActor.Props(connectionId, link, registry.Get<HistoryProxy>(), registry.Get<PatchHubActor>(), journal, settings),
            "connection-" + connectionId);

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
