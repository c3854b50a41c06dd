using Relay.Actors.Hosting;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Validation of <c>Relay:Akka:Bootstrap</c>: what cannot form a cluster fails at start, with a reason.</summary>
public sealed class BootstrapOptionsSpecs
{
    private static readonly string[] ThreeContactPoints = ["gateway1:8558", "gateway2:8558", "gateway3:8558"];

    [Fact]
    public void Should_leave_the_static_seeds_alone_when_off()
    {
        var options = new RelayOptions { Akka = { SeedNodes = ["akka.tcp://relay@10.0.0.1:4053"] } };
        options.Validate();

        Assert.False(options.Akka.Bootstrap.IsEnabled);
        Assert.Equal(["akka.tcp://relay@10.0.0.1:4053"], options.Akka.EffectiveSeedNodes!);
    }

    [Fact]
    public void Should_give_the_cluster_no_seed_nodes_when_on()
    {
        var options = Bootstrapped("gateway2");
        options.Validate();

        Assert.True(options.Akka.Bootstrap.IsEnabled);
        Assert.Empty(options.Akka.EffectiveSeedNodes!);
        Assert.Equal(new Uri("http://gateway2:8558/"), options.Akka.Bootstrap.SelfUri(options.Akka.Hostname));
    }

    [Fact]
    public void Should_refuse_a_host_that_matches_no_contact_point_exactly()
    {
        var byAddress = Bootstrapped("127.0.0.1", ["localhost:8558", "localhost:8559", "localhost:8560"]);
        var otherPort = Bootstrapped("gateway1");
        otherPort.Akka.Bootstrap.ManagementPort = 8559;

        var error = Assert.Throws<InvalidOperationException>(byAddress.Validate).Message;

        Assert.Contains("127.0.0.1:8558", error, StringComparison.Ordinal);
        Assert.Contains("must match exactly", error, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(otherPort.Validate);
    }

    [Fact]
    public void Should_take_the_management_hostname_over_the_akka_hostname()
    {
        var options = Bootstrapped("10.0.0.7");
        options.Akka.Bootstrap.ManagementHostname = "gateway3";
        options.Validate();

        Assert.Equal(new Uri("http://gateway3:8558/"), options.Akka.Bootstrap.SelfUri(options.Akka.Hostname));
    }

    [Fact]
    public void Should_refuse_seed_nodes_and_a_discovery_together()
    {
        var options = Bootstrapped("gateway1");
        options.Akka.SeedNodes = ["akka.tcp://relay@gateway1:4053"];

        var error = Assert.Throws<InvalidOperationException>(options.Validate).Message;

        Assert.Contains("Relay:Akka:SeedNodes", error, StringComparison.Ordinal);
        Assert.Contains("Relay:Akka:Bootstrap:Discovery", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_what_could_never_form_a_cluster()
    {
        var unknown = Bootstrapped("gateway1");
        unknown.Akka.Bootstrap.Discovery = "dns";
        var tooFew = Bootstrapped("gateway1", ["gateway1:8558", "gateway2:8558"]);
        var noPort = Bootstrapped("gateway1", ["gateway1", "gateway2:8558", "gateway3:8558"]);
        var akkaPort = Bootstrapped("gateway1");
        akkaPort.Akka.Bootstrap.ManagementPort = akkaPort.Akka.Port;

        Assert.Contains("'dns'", Assert.Throws<InvalidOperationException>(unknown.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("RequiredContactPoints", Assert.Throws<InvalidOperationException>(tooFew.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("host:port", Assert.Throws<InvalidOperationException>(noPort.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("ManagementPort", Assert.Throws<InvalidOperationException>(akkaPort.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_need_no_contact_points_with_kubernetes_discovery()
    {
        var options = new RelayOptions { Akka = { Hostname = "10.1.2.3", Bootstrap = { Discovery = "Kubernetes" } } };
        options.Validate();

        Assert.Equal(BootstrapOptions.KubernetesDiscovery, options.Akka.Bootstrap.Method);
    }

    private static RelayOptions Bootstrapped(string hostname, string[]? contactPoints = null) => new()
    {
        Akka = { Hostname = hostname, Bootstrap = { Discovery = "config", ContactPoints = contactPoints ?? ThreeContactPoints } },
    };
}
