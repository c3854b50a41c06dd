using System.Diagnostics;

namespace Relay.Testing;

/// <summary>
/// Several real Gateway processes on 127.0.0.1 forming one Akka cluster on one PostgreSQL journal. Every
/// node lists every node as a seed, so any of them can be restarted and join whoever is still up.
/// </summary>
public sealed class RelayCluster : IAsyncDisposable
{
    private readonly List<RelayNode> _nodes;

    /// <summary>Describes <paramref name="size"/> nodes journaling to <paramref name="connectionString"/>; nothing runs until <see cref="StartAsync"/>.</summary>
    /// <param name="connectionString">The journal.</param>
    /// <param name="size">How many nodes.</param>
    /// <param name="extra">More settings for every node.</param>
    /// <param name="certificatePath">A PKCS#12 certificate every node presents and requires of its peers (TLS between nodes); null: no TLS.</param>
    /// <param name="bootstrap">
    /// Whether the nodes form the cluster by Cluster Bootstrap (config discovery of every node's management port, all
    /// of them required) instead of static seed nodes; then <see cref="SeedNodes"/> is empty.
    /// </param>
    public RelayCluster(string connectionString, int size = 3, IDictionary<string, string>? extra = null, string? certificatePath = null, bool bootstrap = false)
    {
        ConnectionString = connectionString;
        var settings = new Dictionary<string, string>(extra ?? new Dictionary<string, string>());
        // Failovers are read from several nodes' logs side by side; timestamps line them up.
        settings.TryAdd("Logging:Console:TimestampFormat", "HH:mm:ss.fff ");
        if (certificatePath is not null)
        {
            foreach (var (key, value) in TlsSettings(certificatePath))
            {
                settings[key] = value;
            }
        }

        var akkaPorts = Enumerable.Range(0, size).Select(_ => FreePort.Next()).ToArray();
        var scheme = certificatePath is null ? "akka.tcp" : "akka.ssl.tcp";
        SeedNodes = bootstrap ? [] : akkaPorts.Select(port => $"{scheme}://relay@127.0.0.1:{port}").ToArray();
        var managementPorts = Enumerable.Range(0, size).Select(_ => FreePort.Next()).ToArray();
        if (bootstrap)
        {
            foreach (var (key, value) in BootstrapSettings(managementPorts))
            {
                settings[key] = value;
            }
        }

        _nodes = akkaPorts
            .Select((port, i) => RelayNode.Postgres(
                $"node{i + 1}",
                connectionString,
                SeedNodes,
                port,
                bootstrap ? new Dictionary<string, string>(settings) { ["Relay:Akka:Bootstrap:ManagementPort"] = managementPorts[i].ToString() } : settings))
            .ToList();
    }

    /// <summary>
    /// The settings of a node that forms its cluster by Cluster Bootstrap with config discovery: every one of
    /// <paramref name="managementPorts"/> on 127.0.0.1 is a contact point, and all of them are required. The node's own
    /// <c>Relay:Akka:Bootstrap:ManagementPort</c> is left to the caller.
    /// </summary>
    public static Dictionary<string, string> BootstrapSettings(IReadOnlyList<int> managementPorts)
    {
        var settings = new Dictionary<string, string>
        {
            ["Relay:Akka:Bootstrap:Discovery"] = "config",
            ["Relay:Akka:Bootstrap:RequiredContactPoints"] = managementPorts.Count.ToString(),
        };
        for (var i = 0; i < managementPorts.Count; i++)
        {
            settings[$"Relay:Akka:Bootstrap:ContactPoints:{i}"] = $"127.0.0.1:{managementPorts[i]}";
        }

        return settings;
    }

    /// <summary>The settings that turn TLS between nodes on with the certificate at <paramref name="certificatePath"/>.</summary>
    public static Dictionary<string, string> TlsSettings(string certificatePath) => new()
    {
        ["Relay:Akka:Tls:Enabled"] = "true",
        ["Relay:Akka:Tls:CertificatePath"] = certificatePath,
    };

    /// <summary>The journal's connection string.</summary>
    public string ConnectionString { get; }

    /// <summary>The seed list every node is given.</summary>
    public IReadOnlyList<string> SeedNodes { get; }

    /// <summary>The nodes, node1 first.</summary>
    public IReadOnlyList<RelayNode> Nodes => _nodes;

    /// <summary>The node at <paramref name="index"/> (0-based).</summary>
    public RelayNode this[int index] => _nodes[index];

    /// <summary>What every node printed, for failure messages.</summary>
    public string Output => string.Join('\n', _nodes.Select(node => node.Output));

    /// <summary>
    /// Starts node1 and waits until it is ready, then the others together. node1 is thereby the oldest
    /// member and hosts the singleton (with the <c>singleton</c> placement), and the journal's tables are created once before the others connect.
    /// </summary>
    public Task StartAsync(TimeSpan? readyTimeout = null) =>
        KillAllOnFailureAsync(async () =>
        {
            await _nodes[0].StartAsync(readyTimeout);
            await Task.WhenAll(_nodes.Skip(1).Select(node => node.StartAsync(readyTimeout)));
        });

    /// <summary>
    /// Starts every node at the same moment, as an orchestrator would (docker-compose without ordering):
    /// the nodes race to form the cluster and to create the journal's tables.
    /// </summary>
    public Task StartAllAtOnceAsync(TimeSpan? readyTimeout = null) =>
        KillAllOnFailureAsync(() => Task.WhenAll(_nodes.Select(node => node.StartAsync(readyTimeout))));

    /// <summary>
    /// The running nodes whose status lists <paramref name="document"/>'s sequencer (<c>""</c> is the default
    /// document), as they answer now: exactly one once the cluster is settled, none while the document is
    /// passivated or not opened yet, and for a moment two or none during a handover.
    /// </summary>
    public async Task<IReadOnlyList<RelayNode>> HistoryHostsAsync(string document = "")
    {
        var running = _nodes.Where(node => node.IsRunning).ToList();
        var sequencers = await Task.WhenAll(running.Select(node => node.SequencersAsync()));
        return running.Where((_, i) => sequencers[i].Contains(document, StringComparer.Ordinal)).ToList();
    }

    /// <summary>
    /// Waits until exactly one running node hosts <paramref name="document"/>'s sequencer and returns it; fails
    /// after <paramref name="timeout"/> (default 30 s) with the hosts last seen.
    /// </summary>
    public async Task<RelayNode> SingleHistoryHostAsync(string document = "", TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        IReadOnlyList<RelayNode> hosts = [];
        while (deadline.Elapsed < (timeout ?? TimeSpan.FromSeconds(30)))
        {
            hosts = await HistoryHostsAsync(document);
            if (hosts.Count == 1)
            {
                return hosts[0];
            }

            await Task.Delay(200);
        }

        throw new TimeoutException(
            $"the sequencer of /{document} ran on [{string.Join(", ", hosts.Select(node => node.Name))}], not on exactly one node, for {timeout ?? TimeSpan.FromSeconds(30)}");
    }

    // A fixture whose start fails is never disposed by xunit: the nodes that did start must not outlive the run.
    private async Task KillAllOnFailureAsync(Func<Task> start)
    {
        try
        {
            await start();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }
}
