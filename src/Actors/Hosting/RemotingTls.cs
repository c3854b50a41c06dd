#nullable enable
using System.Security.Cryptography.X509Certificates;
using Akka.Remote.Hosting;
using Akka.Remote.Transport.DotNetty;

namespace Relay.Actors.Hosting;

/// <summary>
/// TLS between nodes over Akka.Remote's DotNetty transport. Both ends of every connection present a
/// certificate (mutual authentication) and accept only a pinned one: this node's own certificate, which every
/// node shares, plus <see cref="TlsOptions.AllowedThumbprints"/>. A self-signed certificate needs no CA; a
/// process without the certificate's private key cannot complete a handshake, so it can neither join nor send.
/// </summary>
public static class RemotingTls
{
    /// <summary>Sets TLS on <paramref name="remote"/> when <c>Relay:Akka:Tls:Enabled</c>; leaves it alone otherwise.</summary>
    public static RemoteOptions WithRelayTls(this RemoteOptions remote, TlsOptions tls)
    {
        if (!tls.Enabled)
        {
            return remote;
        }

        var certificate = Load(tls);
        CertificateValidationCallback pinned = CertificateValidation.PinnedCertificate([certificate.Thumbprint, .. tls.AllowedThumbprints]);
        remote.EnableSsl = true;
        remote.Ssl = new SslOptions
        {
            X509Certificate = certificate,
            SuppressValidation = false,
            RequireMutualAuthentication = true,
            // Nodes are reached by name or address; the pinned certificate, not its subject, is the identity.
            ValidateCertificateHostname = false,
            CustomValidator = pinned,
        };
        return remote;
    }

    private static X509Certificate2 Load(TlsOptions tls)
    {
        if (!File.Exists(tls.CertificatePath))
        {
            throw new InvalidOperationException($"Relay:Akka:Tls:CertificatePath '{tls.CertificatePath}' does not exist");
        }

        var certificate = X509CertificateLoader.LoadPkcs12FromFile(
            tls.CertificatePath!,
            string.IsNullOrEmpty(tls.CertificatePassword) ? null : tls.CertificatePassword,
            X509KeyStorageFlags.EphemeralKeySet);
        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"Relay:Akka:Tls:CertificatePath '{tls.CertificatePath}' holds no private key");
        }

        return certificate;
    }
}
