using Relay.Actors.Hosting;
using Relay.Testing;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Relay.Cluster.Tests;

/// <summary>
/// deploy/kubernetes's gateway environment, bound as the Gateway binds it: every <c>Relay__</c> variable names a
/// setting Relay has (no typo passes silently), and the configuration passes Relay's start checks. The manifests'
/// schemas and references are checked by tests/kubernetes (node); no Kubernetes cluster runs here.
/// </summary>
public sealed class KubernetesManifestSpecs
{
    private static readonly string Deployment = Path.Combine(RepoPaths.Root, "deploy", "kubernetes", "deployment.yaml");

    // What Kubernetes would put in: the pod's IP from the downward API, and the Secrets' values.
    private const string PodIp = "10.42.0.7";
    private static readonly Dictionary<string, string> Secrets = new()
    {
        ["relay-journal/connection-string"] = "Host=postgres.example;Port=5432;Username=relay;Password=secret;Database=relay",
    };

    [Fact]
    public void Should_bind_the_gateways_environment_to_a_valid_relay_configuration_with_no_unknown_key()
    {
        var options = EnvironmentConfiguration.Bind(GatewayEnvironment(), errorOnUnknown: true);
        options.Validate();

        Assert.Equal(PodIp, options.Akka.Hostname);
        Assert.Equal("PostgreSQL.15", options.Journal.ProviderName);
        Assert.True(options.Akka.Tls.Enabled);
        Assert.Empty(options.Akka.SeedNodes);
        Assert.Equal(BootstrapOptions.KubernetesDiscovery, options.Akka.Bootstrap.Method);
        Assert.Equal(PodIp, options.Akka.Bootstrap.EffectiveManagementHostname(options.Akka.Hostname));
    }

    [Fact]
    public void Should_refuse_a_misspelt_setting_so_that_the_check_above_means_something()
    {
        var environment = GatewayEnvironment();
        environment["Relay__Akka__Bootstrap__RequiredContactPionts"] = "3";
        Assert.Throws<InvalidOperationException>(() => EnvironmentConfiguration.Bind(environment, errorOnUnknown: true));
    }

    /// <summary>
    /// The gateway container's environment as Kubernetes resolves it: <c>value</c>s with <c>$(NAME)</c> expanded from
    /// the variables defined before, <c>fieldRef</c> to the pod's IP, <c>secretKeyRef</c> to <see cref="Secrets"/>
    /// (an optional key that is missing is left out, as Kubernetes does).
    /// </summary>
    private static Dictionary<string, string> GatewayEnvironment()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Deployment))
        {
            yaml.Load(reader);
        }

        var deployment = (YamlMappingNode)yaml.Documents.Single().RootNode;
        var container = (YamlMappingNode)((YamlSequenceNode)Descend(deployment, "spec", "template", "spec")["containers"]).Children.Single();
        var environment = new Dictionary<string, string>();
        foreach (var variable in ((YamlSequenceNode)container["env"]).Children.Cast<YamlMappingNode>())
        {
            var name = variable["name"].ToString();
            if (variable.Children.TryGetValue("value", out var value))
            {
                environment[name] = System.Text.RegularExpressions.Regex.Replace(
                    value.ToString(), @"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", match => environment.GetValueOrDefault(match.Groups[1].Value, match.Value));
                continue;
            }

            var from = (YamlMappingNode)variable["valueFrom"];
            if (from.Children.TryGetValue("fieldRef", out var field))
            {
                Assert.Equal("status.podIP", ((YamlMappingNode)field)["fieldPath"].ToString());
                environment[name] = PodIp;
            }
            else
            {
                var secret = (YamlMappingNode)from["secretKeyRef"];
                var key = $"{secret["name"]}/{secret["key"]}";
                var optional = secret.Children.TryGetValue("optional", out var flag) && flag.ToString() == "true";
                if (Secrets.TryGetValue(key, out var secretValue))
                {
                    environment[name] = secretValue;
                }
                else
                {
                    Assert.True(optional, $"the Secret key {key} is required, and docs/cluster.md's setup must create it");
                }
            }
        }

        return environment;
    }

    private static YamlMappingNode Descend(YamlMappingNode node, params string[] keys) =>
        keys.Aggregate(node, (current, key) => (YamlMappingNode)current[key]);
}
