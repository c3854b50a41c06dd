using System.Text.RegularExpressions;
using Akka.Actor;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Relay.Actors.Hosting;
using Relay.Testing;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Relay.Cluster.Tests;

/// <summary>
/// docker-compose.yml, the Dockerfile and deploy/nginx checked without a container engine: compose accepts
/// the file, and every gateway's environment binds to a Relay configuration that works in that topology. The
/// checks read the configuration as compose resolves it (<c>docker-compose config</c>: anchors merged, the
/// password taken from <c>.env.example</c> in place of the <c>.env</c> a user writes).
/// </summary>
public sealed partial class ComposeFileSpecs
{
    private static readonly string ComposeFile = Path.Combine(RepoPaths.Root, "docker-compose.yml");
    private static readonly string StaticSeedsFile = Path.Combine(RepoPaths.Root, "deploy", "compose", "static-seeds.yml");
    private static readonly string[] EnvFile = ["--env-file", Path.Combine(RepoPaths.Root, ".env.example")];
    private YamlMappingNode _services;

    /// <summary>Reads docker-compose.yml as <c>docker-compose config</c> resolves it.</summary>
    public ComposeFileSpecs() => _services = Resolve([]);

    /// <summary>The services of docker-compose.yml with <paramref name="overrides"/> added, as compose resolves them.</summary>
    private static YamlMappingNode Resolve(string[] overrides)
    {
        var resolved = RunComposeAsync([.. overrides.SelectMany(file => new[] { "-f", file }), "config"]).GetAwaiter().GetResult();
        Assert.True(resolved.ExitCode == 0, $"docker-compose config failed with {resolved.ExitCode}:\n{resolved.Output}");
        var yaml = new YamlStream();
        using (var reader = new StringReader(resolved.StandardOutput))
        {
            yaml.Load(reader);
        }

        return (YamlMappingNode)((YamlMappingNode)yaml.Documents[0].RootNode)["services"];
    }

    [Fact]
    public async Task Should_be_accepted_by_docker_compose_alone_and_with_the_static_seeds()
    {
        var result = await RunComposeAsync("config", "-q");
        var withStaticSeeds = await RunComposeAsync("-f", StaticSeedsFile, "config", "-q");

        Assert.True(result.ExitCode == 0, $"docker-compose config -q failed with {result.ExitCode}:\n{result.Output}");
        Assert.True(withStaticSeeds.ExitCode == 0, $"docker-compose config -q with {StaticSeedsFile} failed with {withStaticSeeds.ExitCode}:\n{withStaticSeeds.Output}");
    }

    [Fact]
    public async Task Should_take_the_password_from_the_env_file_and_define_the_gateways_once()
    {
        var raw = await File.ReadAllTextAsync(ComposeFile);
        var example = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, ".env.example"));
        var ignored = await File.ReadAllLinesAsync(Path.Combine(RepoPaths.Root, ".gitignore"));
        var empty = Path.Combine(RepoPaths.NewTempFolder("compose-env"), "empty.env");
        await File.WriteAllTextAsync(empty, "");
        var withoutEnvFile = await ProcessRunner.RunAsync("docker-compose", ["--env-file", empty, "-f", ComposeFile, "config", "-q"], TimeSpan.FromSeconds(60));

        Assert.Contains("POSTGRES_PASSWORD=", example, StringComparison.Ordinal);
        Assert.Contains(".env", ignored);
        Assert.DoesNotContain("Password=relay", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("POSTGRES_PASSWORD: relay", raw, StringComparison.Ordinal);
        Assert.True(withoutEnvFile.ExitCode != 0, "compose accepts the file without a password");
        Assert.Contains("POSTGRES_PASSWORD", withoutEnvFile.Output, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^x-gateway: &gateway\s*$", raw);
        Assert.Equal(Gateways().Count, Regex.Matches(raw, @"<<: \*gateway\s*$", RegexOptions.Multiline).Count);
    }

    [Fact]
    public void Should_run_the_gateways_with_tls_between_them_from_a_generated_certificate()
    {
        var certificate = (YamlMappingNode)_services["certificate"];
        var written = VolumeTargets(certificate);
        foreach (var name in Gateways())
        {
            var options = Bind(name);
            var gateway = (YamlMappingNode)_services[name];
            var mounted = VolumeTargets(gateway);
            var dependsOn = (YamlMappingNode)gateway["depends_on"];

            Assert.True(options.Akka.Tls.Enabled, $"{name} runs without TLS");
            Assert.StartsWith("/certs/", options.Akka.Tls.CertificatePath, StringComparison.Ordinal);
            Assert.Equal(written, mounted);
            Assert.Equal("service_completed_successfully", ((YamlMappingNode)dependsOn["certificate"])["condition"].ToString());
            Assert.False(dependsOn.Children.Keys.Any(key => Gateways().Contains(key.ToString())), $"{name} waits for another gateway: they must start together to form a cluster");
        }
    }

    [Fact]
    public void Should_bind_every_gateway_environment_to_a_valid_relay_configuration()
    {
        var gateways = Gateways();
        var postgres = Environment("postgres");

        Assert.Equal(3, gateways.Count);
        foreach (var name in gateways)
        {
            var options = Bind(name);
            options.Validate();
            Assert.Equal("PostgreSQL.15", options.Journal.ProviderName);
            var journal = new NpgsqlConnectionStringBuilder(options.Journal.ConnectionString);
            Assert.Equal("postgres", journal.Host);
            Assert.Equal(5432, journal.Port);
            Assert.Equal(postgres["POSTGRES_DB"], journal.Database);
            Assert.Equal(postgres["POSTGRES_USER"], journal.Username);
            Assert.Equal(postgres["POSTGRES_PASSWORD"], journal.Password);

            Assert.Equal(name, options.Akka.Hostname);
            // Cluster Bootstrap: every gateway lists every gateway's management port, and needs all of them to form a cluster.
            var bootstrap = options.Akka.Bootstrap;
            Assert.Equal(BootstrapOptions.ConfigDiscovery, bootstrap.Method);
            Assert.Empty(options.Akka.SeedNodes);
            Assert.Equal(gateways.Count, bootstrap.RequiredContactPoints);
            Assert.Equal(Bind(gateways[0]).Akka.Bootstrap.ContactPoints, bootstrap.ContactPoints);
            Assert.Equal(gateways.Order(), bootstrap.ParsedContactPoints().Select(point => point.Host).Order());
            Assert.All(bootstrap.ParsedContactPoints(), point => Assert.Equal(Bind(point.Host).Akka.Bootstrap.ManagementPort, point.Port));
            Assert.NotEqual(options.Akka.Port, bootstrap.ManagementPort);
            // Published ports read "host_ip:published:target" (or a mapping with a target): the management port is none of them.
            var published = ((YamlSequenceNode)((YamlMappingNode)_services[name])["ports"]).Children
                .Select(port => port is YamlMappingNode mapping ? mapping["target"].ToString() : port.ToString().Split(':')[^1]);
            Assert.DoesNotContain(bootstrap.ManagementPort.ToString(), published);
        }
    }

    [Fact]
    public void Should_bind_static_seed_nodes_instead_with_the_override()
    {
        _services = Resolve([StaticSeedsFile]);
        var gateways = Gateways();
        var akkaPorts = gateways.ToDictionary(name => name, name => Bind(name).Akka.Port);

        Assert.Equal(3, gateways.Count);
        foreach (var name in gateways)
        {
            var options = Bind(name);
            options.Validate();
            Assert.False(options.Akka.Bootstrap.IsEnabled, $"{name} still forms by Cluster Bootstrap");
            Assert.Equal(Bind(gateways[0]).Akka.SeedNodes, options.Akka.SeedNodes);
            Assert.Equal(gateways.Count, options.Akka.SeedNodes.Length);
            foreach (var seed in options.Akka.SeedNodes)
            {
                var address = Address.Parse(seed);
                Assert.Equal(options.Akka.Tls.Enabled ? "akka.ssl.tcp" : "akka.tcp", address.Protocol);
                Assert.Equal(RelayHostingExtensions.ActorSystemName, address.System);
                Assert.Contains(address.Host, gateways);
                Assert.Equal(akkaPorts[address.Host!], address.Port);
            }
        }
    }

    [Fact]
    public void Should_put_nginx_with_websocket_proxying_in_front_of_every_gateway()
    {
        var nginx = (YamlMappingNode)_services["nginx"];
        var mount = ((YamlSequenceNode)nginx["volumes"]).Children.Select(node => node.ToString())
            .Single(volume => volume.Contains("/etc/nginx/", StringComparison.Ordinal));
        var config = File.ReadAllText(Path.Combine(RepoPaths.Root, mount.Split(':')[0]));
        var upstreams = NginxServer().Matches(config).Select(match => (Host: match.Groups[1].Value, Port: int.Parse(match.Groups[2].Value))).ToList();

        var published = ((YamlSequenceNode)nginx["ports"]).Children.Cast<YamlMappingNode>().Select(port => $"{port["published"]}:{port["target"]}");
        Assert.Contains("5001:5001", published);
        Assert.Contains("proxy_set_header Upgrade $http_upgrade;", config, StringComparison.Ordinal);
        Assert.Contains("proxy_set_header Connection $connection_upgrade;", config, StringComparison.Ordinal);
        Assert.Contains("proxy_http_version 1.1;", config, StringComparison.Ordinal);
        NginxAssert.KeepsTokensOutOfLogsAndHoldsManySockets(config);
        Assert.Equal(Gateways().Order(), upstreams.Select(upstream => upstream.Host).Order());
        foreach (var (host, port) in upstreams)
        {
            var urls = Environment(host)["ASPNETCORE_URLS"];
            Assert.Equal(port, new Uri(urls.Replace("+", "localhost", StringComparison.Ordinal)).Port);
        }
    }

    [Fact]
    public void Should_check_the_health_of_every_service_and_keep_the_journal_in_a_volume()
    {
        foreach (var (name, service) in _services.Children.Select(pair => (pair.Key.ToString(), (YamlMappingNode)pair.Value)))
        {
            Assert.True(service.Children.ContainsKey("healthcheck"), $"service {name} has no healthcheck");
            Assert.NotEmpty((YamlSequenceNode)((YamlMappingNode)service["healthcheck"])["test"]);
        }

        // Gateways are healthy only when ready to relay: /readyz, not mere liveness.
        foreach (var gateway in Gateways())
        {
            var test = string.Join(' ', ((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)_services[gateway])["healthcheck"])["test"]).Children);
            Assert.Contains("GET /readyz", test, StringComparison.Ordinal);
        }

        var volumes = ((YamlSequenceNode)((YamlMappingNode)_services["postgres"])["volumes"]).Children.Select(node => node.ToString());
        Assert.Contains(volumes, volume => volume.Split(':')[1] == "/var/lib/postgresql/data");
    }

    [Fact]
    public void Should_build_the_gateway_image_in_two_stages_from_files_that_exist()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(RepoPaths.Root, "Dockerfile"));
        var froms = dockerfile.Where(line => line.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        var sources = dockerfile
            .Where(line => line.StartsWith("COPY ", StringComparison.Ordinal) && !line.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1])
            .ToList();

        Assert.Equal(2, froms.Count);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", froms[0], StringComparison.Ordinal);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0", froms[1], StringComparison.Ordinal);
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var path = Path.Combine(RepoPaths.Root, source);
            Assert.True(File.Exists(path) || Directory.Exists(path), $"the Dockerfile copies {source}, which does not exist");
        }
    }

    /// <summary>A service's volumes as <c>source:target</c>, without the mode.</summary>
    private static List<string> VolumeTargets(YamlMappingNode service) =>
        ((YamlSequenceNode)service["volumes"]).Children.Select(node => string.Join(':', node.ToString().Split(':').Take(2))).ToList();

    private static async Task<ProcessResult> RunComposeAsync(params string[] arguments)
    {
        try
        {
            return await ProcessRunner.RunAsync("docker-compose", [.. EnvFile, "-f", ComposeFile, .. arguments], TimeSpan.FromSeconds(60));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("docker-compose is not installed; install it: apt-get install -y docker-compose", ex);
        }
    }

    /// <summary>The services whose environment configures Relay.</summary>
    private List<string> Gateways() =>
        _services.Children.Keys.Select(key => key.ToString())
            .Where(name => Environment(name).Keys.Any(key => key.StartsWith("Relay__", StringComparison.Ordinal)))
            .ToList();

    private Dictionary<string, string> Environment(string service)
    {
        var node = (YamlMappingNode)_services[service];
        if (!node.Children.TryGetValue("environment", out var environment))
        {
            return new Dictionary<string, string>();
        }

        return environment switch
        {
            YamlMappingNode map => map.Children.ToDictionary(pair => pair.Key.ToString(), pair => pair.Value.ToString()),
            YamlSequenceNode list => list.Children.Select(item => item.ToString().Split('=', 2)).ToDictionary(parts => parts[0], parts => parts.Length > 1 ? parts[1] : ""),
            _ => throw new InvalidOperationException($"environment of {service} is neither a mapping nor a list"),
        };
    }

    /// <summary>The service's environment bound to <see cref="RelayOptions"/> as the Gateway binds it (<see cref="EnvironmentConfiguration"/>).</summary>
    private RelayOptions Bind(string service) => EnvironmentConfiguration.Bind(Environment(service));

    [GeneratedRegex(@"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", RegexOptions.Multiline)]
    private static partial Regex NginxServer();
}
