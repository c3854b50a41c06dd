#nullable enable
namespace Relay.Actors.Hosting;

/// <summary>
/// Cluster Bootstrap (Akka.Management) as the cluster's formation, bound from <c>Relay:Akka:Bootstrap</c>: the node
/// finds its peers' contact points by discovery, probes each one's <c>GET /bootstrap/seed-nodes</c> (which the Gateway
/// serves on <see cref="ManagementPort"/>), joins a cluster one of them names, and only when none exists and
/// <see cref="RequiredContactPoints"/> answered does the node with the lowest contact point form one. So no node, restarted
/// alone, forms a cluster of its own. Off (<see cref="Discovery"/> empty): static <c>Relay:Akka:SeedNodes</c>.
/// </summary>
public sealed class BootstrapOptions
{
    /// <summary>Discovery from a fixed list, <c>Relay:Akka:Bootstrap:ContactPoints</c>.</summary>
    public const string ConfigDiscovery = "config";

    /// <summary>Discovery through the Kubernetes API (pods matching <see cref="PodLabelSelector"/>).</summary>
    public const string KubernetesDiscovery = "kubernetes";

    /// <summary><c>""</c> (default): no bootstrap, static seed nodes. <c>config</c> or <c>kubernetes</c>.</summary>
    public string Discovery { get; set; } = "";

    /// <summary>The service discovery looks up (config discovery's service name; Kubernetes: fills <c>{0}</c> of <see cref="PodLabelSelector"/>).</summary>
    public string ServiceName { get; set; } = "relay";

    /// <summary>Contact points that must answer before a new cluster forms (default 3).</summary>
    public int RequiredContactPoints { get; set; } = 3;

    /// <summary>The port of this node's management listener, which serves <c>GET /bootstrap/seed-nodes</c> only.</summary>
    public int ManagementPort { get; set; } = 8558;

    /// <summary>
    /// The host this node's contact point is known by in discovery; empty: <c>Relay:Akka:Hostname</c>. With config
    /// discovery it must equal the host of this node's <see cref="ContactPoints"/> entry exactly.
    /// </summary>
    public string ManagementHostname { get; set; } = "";

    /// <summary>Config discovery: every node's contact point as <c>host:port</c> (management port), this node's included.</summary>
    public string[] ContactPoints { get; set; } = [];

    /// <summary>Kubernetes discovery: the pods' label selector; <c>{0}</c> is <see cref="ServiceName"/>.</summary>
    public string PodLabelSelector { get; set; } = "app={0}";

    /// <summary>Kubernetes discovery: the namespace to look for pods in; empty: the pod's own.</summary>
    public string PodNamespace { get; set; } = "";

    /// <summary>Whether the bootstrap forms the cluster (a discovery is set).</summary>
    public bool IsEnabled => Method is not null;

    /// <summary><see cref="Discovery"/> parsed: null (off), <see cref="ConfigDiscovery"/> or <see cref="KubernetesDiscovery"/>.</summary>
    public string? Method => Discovery.Trim().ToLowerInvariant() switch
    {
        "" => null,
        ConfigDiscovery => ConfigDiscovery,
        KubernetesDiscovery => KubernetesDiscovery,
        _ => throw new InvalidOperationException($"Relay:Akka:Bootstrap:Discovery '{Discovery}' is not supported; use config, kubernetes, or leave it empty for static seed nodes"),
    };

    /// <summary>The host of this node's contact point: <see cref="ManagementHostname"/>, else <paramref name="akkaHostname"/>.</summary>
    public string EffectiveManagementHostname(string akkaHostname) =>
        string.IsNullOrWhiteSpace(ManagementHostname) ? akkaHostname : ManagementHostname;

    /// <summary>This node's contact point as the bootstrap knows itself; a peer whose discovery entry is this URI is this node.</summary>
    public Uri SelfUri(string akkaHostname) => new UriBuilder("http", EffectiveManagementHostname(akkaHostname), ManagementPort, "/").Uri;

    /// <summary>Throws when the settings cannot form a cluster.</summary>
    public void Validate(AkkaNodeOptions akka)
    {
        if (Method is not { } method)
        {
            return;
        }

        if (akka.SeedNodes.Length > 0)
        {
            throw new InvalidOperationException(
                "Relay:Akka:SeedNodes and Relay:Akka:Bootstrap:Discovery are both set; the cluster forms either from static seed nodes or by Cluster Bootstrap, so set one of them");
        }

        if (RequiredContactPoints < 1)
        {
            throw new InvalidOperationException("Relay:Akka:Bootstrap:RequiredContactPoints must be positive");
        }

        if (ManagementPort is < 1 or > 65535 || ManagementPort == akka.Port)
        {
            throw new InvalidOperationException("Relay:Akka:Bootstrap:ManagementPort must be a TCP port of its own (not Relay:Akka:Port)");
        }

        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            throw new InvalidOperationException("Relay:Akka:Bootstrap:ServiceName must not be empty");
        }

        if (method == ConfigDiscovery)
        {
            ValidateContactPoints(akka.Hostname);
        }
    }

    /// <summary>The <see cref="ContactPoints"/> entries as host and port.</summary>
    public IReadOnlyList<(string Host, int Port)> ParsedContactPoints() => ContactPoints.Select(ParseContactPoint).ToList();

    private void ValidateContactPoints(string akkaHostname)
    {
        var points = ParsedContactPoints();
        if (points.Count < RequiredContactPoints)
        {
            throw new InvalidOperationException(
                $"Relay:Akka:Bootstrap:ContactPoints lists {points.Count} contact points, fewer than Relay:Akka:Bootstrap:RequiredContactPoints ({RequiredContactPoints}): no cluster would ever form");
        }

        // The bootstrap recognises itself among the contact points by its self URI alone (host compared as a string):
        // a node that does not, never forms the cluster, and Akka.Management says so only in a warning.
        var host = EffectiveManagementHostname(akkaHostname);
        if (!points.Contains((host, ManagementPort)))
        {
            throw new InvalidOperationException(
                $"This node's contact point {host}:{ManagementPort} (Relay:Akka:Bootstrap:ManagementHostname, else Relay:Akka:Hostname, and ManagementPort) " +
                $"is not among Relay:Akka:Bootstrap:ContactPoints [{string.Join(", ", ContactPoints)}]; the host must match exactly (no name for an address), or no node forms the cluster");
        }
    }

    private static (string Host, int Port) ParseContactPoint(string entry)
    {
        var colon = entry.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(entry.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            throw new InvalidOperationException($"Relay:Akka:Bootstrap:ContactPoints entry '{entry}' must be host:port (the node's management port)");
        }

        return (entry[..colon], port);
    }
}
