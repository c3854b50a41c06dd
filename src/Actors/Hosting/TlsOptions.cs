#nullable enable
namespace Relay.Actors.Hosting;

/// <summary>
/// TLS between nodes (Akka.Remote's DotNetty transport with mutual authentication): each side presents the
/// certificate and accepts only a peer whose certificate is pinned, by default the very certificate this node
/// presents (one certificate shared by every node).
/// </summary>
public sealed class TlsOptions
{
    /// <summary>Whether Akka.Remote speaks TLS. Off by default: a single node on loopback needs none.</summary>
    public bool Enabled { get; set; }

    /// <summary>A PKCS#12 file (<c>.pfx</c>/<c>.p12</c>) with the certificate and its private key.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PKCS#12 file's password; empty when it has none.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// SHA-1 thumbprints (hex) of the certificates peers may present, besides this node's own certificate,
    /// for rotating a certificate without stopping the cluster. Empty: only this node's own certificate.
    /// </summary>
    public string[] AllowedThumbprints { get; set; } = [];

    /// <summary>Throws when the settings cannot work.</summary>
    public void Validate()
    {
        if (!Enabled)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(CertificatePath))
        {
            throw new InvalidOperationException("Relay:Akka:Tls:CertificatePath is required when Relay:Akka:Tls:Enabled is true");
        }

        if (AllowedThumbprints.Any(thumbprint => !System.Text.RegularExpressions.Regex.IsMatch(thumbprint, "^[0-9A-Fa-f]{40}$")))
        {
            throw new InvalidOperationException("Relay:Akka:Tls:AllowedThumbprints entries must be SHA-1 thumbprints (40 hex digits)");
        }
    }
}
