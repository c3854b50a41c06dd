using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Remote.Hosting;
using Relay.Actors.Hosting;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Validation of the TLS and seed settings, the TLS options handed to Akka.Remote, and the formation messages' wire format.</summary>
public sealed class ClusterSecurityOptionsSpecs : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "relay-tests", $"tls-options-{Guid.NewGuid():N}");

    public ClusterSecurityOptionsSpecs() => Directory.CreateDirectory(_folder);

    [Fact]
    public void Should_leave_tls_off_by_default()
    {
        var options = new RelayOptions();
        options.Validate();

        var remote = new RemoteOptions().WithRelayTls(options.Akka.Tls);

        Assert.False(options.Akka.Tls.Enabled);
        Assert.Null(remote.EnableSsl);
    }

    [Fact]
    public void Should_refuse_tls_without_a_certificate_and_seeds_of_the_other_scheme()
    {
        var withoutCertificate = new RelayOptions { Akka = { Tls = { Enabled = true } } };
        var plainSeedsWithTls = new RelayOptions { Akka = { SeedNodes = ["akka.tcp://relay@10.0.0.1:4053"], Tls = { Enabled = true, CertificatePath = "node.pfx" } } };
        var tlsSeedsWithoutTls = new RelayOptions { Akka = { SeedNodes = ["akka.ssl.tcp://relay@10.0.0.1:4053"] } };
        var badThumbprint = new RelayOptions { Akka = { Tls = { Enabled = true, CertificatePath = "node.pfx", AllowedThumbprints = ["not-hex"] } } };

        Assert.Contains("CertificatePath", Assert.Throws<InvalidOperationException>(withoutCertificate.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("akka.ssl.tcp://", Assert.Throws<InvalidOperationException>(plainSeedsWithTls.Validate).Message, StringComparison.Ordinal);
        Assert.Contains("akka.tcp://", Assert.Throws<InvalidOperationException>(tlsSeedsWithoutTls.Validate).Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(badThumbprint.Validate);
    }

    [Fact]
    public void Should_require_mutual_authentication_and_accept_only_the_pinned_certificates()
    {
        var own = CreatePkcs12("own");
        var other = CreatePkcs12("other");
        var rotated = CreatePkcs12("rotated");
        var tls = new TlsOptions { Enabled = true, CertificatePath = own, AllowedThumbprints = [Thumbprint(rotated)] };

        var remote = new RemoteOptions().WithRelayTls(tls);
        var accepts = (string path) => remote.Ssl.CustomValidator!(X509CertificateLoader.LoadPkcs12FromFile(path, null), null, "peer", System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors, Akka.Event.NoLogger.Instance);

        Assert.True(remote.EnableSsl);
        Assert.True(remote.Ssl.RequireMutualAuthentication);
        Assert.False(remote.Ssl.SuppressValidation);
        Assert.True(remote.Ssl.X509Certificate!.HasPrivateKey);
        Assert.True(accepts(own));
        Assert.True(accepts(rotated));
        Assert.False(accepts(other));
    }

    [Fact]
    public void Should_refuse_a_missing_certificate_file_when_tls_is_on()
    {
        var tls = new TlsOptions { Enabled = true, CertificatePath = Path.Combine(_folder, "missing.pfx") };

        Assert.Contains("does not exist", Assert.Throws<InvalidOperationException>(() => new RemoteOptions().WithRelayTls(tls)).Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string CreatePkcs12(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(_folder, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx));
        return path;
    }

    private static string Thumbprint(string path) => X509CertificateLoader.LoadPkcs12FromFile(path, null).Thumbprint;
}
