#nullable enable
using Akka.Actor;
using Akka.Hosting;
using Akka.TestKit.Configs;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Relay.Actors.Fanout;
using Relay.Actors.Hosting;

namespace Relay.Actors.Tests;

/// <summary>
/// A Relay node in this process, wired exactly as the Gateway wires it (<c>WithRelay</c> with the repository's
/// akka.hocon), on its own real SQLite file and a free Akka port, a cluster of its own: the specs share its
/// settings instead of a copy of them. Only the TestKit's own settings are added.
/// </summary>
public sealed class SpecNode : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private readonly IHost _host;

    private SpecNode(IHost host, RelayOptions options, NodeStatus status, string folder)
    {
        _host = host;
        Options = options;
        Status = status;
        Folder = folder;
    }

    /// <summary>The node's actor system.</summary>
    public ActorSystem System => _host.Services.GetRequiredService<ActorSystem>();

    /// <summary>The node's well-known actors (<see cref="HistoryProxy"/>, <see cref="DocumentHubsActor"/>).</summary>
    public IActorRegistry Registry => _host.Services.GetRequiredService<IActorRegistry>();

    /// <summary>The node's settings.</summary>
    public RelayOptions Options { get; }

    /// <summary>The node's status, as its hubs and sequencers report it.</summary>
    public NodeStatus Status { get; }

    /// <summary>The folder of the node's SQLite file.</summary>
    public string Folder { get; }

    /// <summary>
    /// Starts a node on a new SQLite file (or on the one in <paramref name="folder"/>) and waits until it can
    /// relay. Blocking: a TestKit takes its actor system in its constructor.
    /// </summary>
    public static SpecNode Start(string placement = "singleton", string? folder = null, Action<RelayOptions>? configure = null)
    {
        folder ??= NewFolder();
        var options = new RelayOptions
        {
            Akka = { Port = 0 },
            Journal = { ConnectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(folder, "relay.db") }.ConnectionString },
            Documents = { Placement = placement },
        };
        configure?.Invoke(options);
        var status = new NodeStatus();
        var host = new HostBuilder()
            .ConfigureServices(services => services.AddAkka(RelayHostingExtensions.ActorSystemName, akka => akka
                .WithRelay(options, status, Path.Combine(AppContext.BaseDirectory, "akka.hocon"))
                .AddHocon(TestConfigs.DefaultConfig, HoconAddMode.Append)))
            .Build();
        host.StartAsync().GetAwaiter().GetResult();
        if (!status.FirstReady.Wait(ReadyTimeout))
        {
            host.StopAsync().GetAwaiter().GetResult();
            throw new TimeoutException($"The spec node did not become ready within {ReadyTimeout}");
        }

        return new SpecNode(host, options, status, folder);
    }

    /// <summary>A new empty folder for a node's SQLite file.</summary>
    public static string NewFolder()
    {
        var folder = Path.Combine(Path.GetTempPath(), "relay-tests", $"actor-spec-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
