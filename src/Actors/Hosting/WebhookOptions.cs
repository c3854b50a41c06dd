#nullable enable
namespace Relay.Actors.Hosting;

/// <summary>
/// Webhooks (<c>Relay:Webhooks</c>, docs/api.md "Webhooks"): every patch of the documents under <see cref="Prefix"/>,
/// POSTed in batches to <see cref="Url"/>, signed with <see cref="Secret"/>, in the journal's order, at least once,
/// from a cursor kept in the journal. Off unless <see cref="Url"/> is set.
/// </summary>
public sealed class WebhookOptions
{
    /// <summary>The fewest characters a secret has.</summary>
    public const int MinSecretLength = 16;

    /// <summary>Where the batches go (http or https); empty: webhooks are off.</summary>
    public string? Url { get; set; }

    /// <summary>The HMAC-SHA256 key of the <c>X-Relay-Signature</c> header, at least 16 characters.</summary>
    public string? Secret { get; set; }

    /// <summary>Document name prefix whose patches are sent; empty: every document.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>Patches in one POST at most.</summary>
    public int MaxBatch { get; set; } = 100;

    /// <summary>How long a POST may take before it counts as failed.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>The longest wait between two tries of a batch the receiver did not take (from 1 s, doubling).</summary>
    public int MaxBackoffSeconds { get; set; } = 60;

    /// <summary>Whether webhooks are on.</summary>
    public bool IsEnabled => !string.IsNullOrWhiteSpace(Url);

    /// <summary>Throws when a setting cannot work.</summary>
    public void Validate()
    {
        if (!IsEnabled)
        {
            return;
        }

        if (!Uri.TryCreate(Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException("Relay:Webhooks:Url must be an absolute http or https URL");
        }

        if (Secret is not { Length: >= MinSecretLength })
        {
            throw new InvalidOperationException($"Relay:Webhooks:Secret must be at least {MinSecretLength} characters (generate one: openssl rand -hex 32)");
        }

        if (Prefix.Length > 0 && !Documents.DocumentName.TryParse("/" + Prefix.TrimEnd('/'), out _, out _))
        {
            throw new InvalidOperationException($"Relay:Webhooks:Prefix '{Prefix}' is no start of a document name");
        }

        if (MaxBatch < 1 || TimeoutSeconds < 1 || MaxBackoffSeconds < 1)
        {
            throw new InvalidOperationException("Relay:Webhooks:MaxBatch, TimeoutSeconds and MaxBackoffSeconds must be positive");
        }
    }
}
