using Relay.Actors.Documents;

namespace Relay.Gateway.Api;

/// <summary>
/// The server API's settings, bound from <c>Relay:Api</c>: off unless at least one key is set (docs/api.md).
/// </summary>
public sealed class ApiOptions
{
    /// <summary>The configuration section, under <c>Relay</c>.</summary>
    public const string Section = "Api";

    /// <summary>The keys backends present as <c>Authorization: Bearer SECRET</c>; none: the API is off.</summary>
    public ApiKeyOptions[] Keys { get; set; } = [];

    /// <summary>Whether the API is served.</summary>
    public bool IsEnabled => Keys.Length > 0;

    /// <summary>Throws when a key cannot work; <paramref name="socketToken"/> is <c>Relay:Auth:Token</c>, which no key may equal.</summary>
    public void Validate(string? socketToken)
    {
        for (var i = 0; i < Keys.Length; i++)
        {
            var key = Keys[i];
            var name = string.IsNullOrEmpty(key.Name) ? $"Relay:Api:Keys:{i}" : $"Relay:Api:Keys:{i} ({key.Name})";
            if (key.Secret is not { Length: >= ApiKeyOptions.MinSecretLength } secret || secret.Any(c => c <= ' ' || c > '~'))
            {
                throw new InvalidOperationException($"{name}: Secret must be at least {ApiKeyOptions.MinSecretLength} printable ASCII characters without spaces");
            }

            if (!string.IsNullOrEmpty(socketToken) && string.Equals(secret, socketToken, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{name}: Secret must not be Relay:Auth:Token: API keys never open a WebSocket");
            }

            if (key.Prefixes.FirstOrDefault(prefix => !ApiKeyOptions.IsPrefix(prefix)) is { } bad)
            {
                throw new InvalidOperationException($"{name}: prefix '{bad}' is no start of a document name (segments of A-Z a-z 0-9 . _ ~ - separated by /)");
            }
        }

        if (Keys.Select(key => key.Secret).Distinct(StringComparer.Ordinal).Count() != Keys.Length)
        {
            throw new InvalidOperationException("Relay:Api:Keys: two keys have the same Secret");
        }

        if (Keys.Where(key => !string.IsNullOrEmpty(key.Name)).GroupBy(key => key.Name, StringComparer.Ordinal).Any(group => group.Count() > 1))
        {
            throw new InvalidOperationException("Relay:Api:Keys: two keys have the same Name");
        }
    }
}

/// <summary>One API key: its secret and what it may do.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>The fewest characters a secret has.</summary>
    public const int MinSecretLength = 16;

    /// <summary>What logs call the key (never its secret); also the scope of its idempotency keys. Default: its index.</summary>
    public string? Name { get; set; }

    /// <summary>The bearer token, at least 16 printable ASCII characters; generate it (<c>openssl rand -hex 32</c>).</summary>
    public string? Secret { get; set; }

    /// <summary>Document name prefixes the key reaches (<c>boards/</c>); empty: every document.</summary>
    public string[] Prefixes { get; set; } = [];

    /// <summary>Whether the key may only read (no publish).</summary>
    public bool ReadOnly { get; set; }

    /// <summary>Whether <paramref name="prefix"/> can start a document name: a name itself, or one followed by <c>/</c>.</summary>
    internal static bool IsPrefix(string prefix) =>
        prefix.Length > 0 && DocumentName.TryParse("/" + prefix.TrimEnd('/'), out _, out _) && !prefix.EndsWith("//", StringComparison.Ordinal);

    /// <summary>Whether the key reaches every document whose name starts with <paramref name="prefix"/>.</summary>
    internal bool ReachesPrefix(string prefix) =>
        Prefixes.Length == 0 || Prefixes.Any(own => prefix.StartsWith(own, StringComparison.Ordinal));

    /// <summary>Whether the key reaches <paramref name="document"/>.</summary>
    internal bool Reaches(DocumentName document) =>
        Prefixes.Length == 0 || Prefixes.Any(prefix => document.Value.StartsWith(prefix, StringComparison.Ordinal));
}
