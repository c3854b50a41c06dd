using System.Security.Cryptography;
using System.Text;
using Relay.Actors.Documents;

namespace Relay.Gateway.Api;

/// <summary>What a request to the server API may do, once its key is known.</summary>
public enum ApiAccess
{
    /// <summary>No key, or an unknown one: 401.</summary>
    Unauthenticated,

    /// <summary>A key that does not reach the document, or may not write it: 403.</summary>
    Forbidden,

    /// <summary>Allowed.</summary>
    Allowed,
}

/// <summary>
/// The server API's keys (<see cref="ApiOptions"/>): finds the key of a request's <c>Authorization: Bearer</c> by comparing
/// SHA-256 digests in constant time against every key (no early exit, so the time says nothing of which key or how
/// much of it matched), and says what it may do. Secrets are kept as digests only and never logged.
/// </summary>
public sealed class ApiKeys
{
    private readonly (byte[] Digest, ApiKeyOptions Key, string Name)[] _keys;

    /// <summary>Creates the node's API keys.</summary>
    public ApiKeys(ApiOptions options)
    {
        _keys = options.Keys
            .Select((key, index) => (Digest(key.Secret!), key, string.IsNullOrEmpty(key.Name) ? index.ToString(System.Globalization.CultureInfo.InvariantCulture) : key.Name))
            .ToArray();
    }

    /// <summary>
    /// The key <paramref name="authorization"/> (the header's value) presents, with the name logs and idempotency keys
    /// use; null when it presents none or an unknown one.
    /// </summary>
    public (ApiKeyOptions Key, string Name)? Find(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var presented = Digest(authorization[scheme.Length..].Trim());
        (ApiKeyOptions Key, string Name)? found = null;
        foreach (var (digest, key, name) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(digest, presented))
            {
                found = (key, name);
            }
        }

        return found;
    }

    /// <summary>What <paramref name="key"/> may do to <paramref name="document"/>, to write it when <paramref name="write"/>.</summary>
    public static ApiAccess Check(ApiKeyOptions? key, DocumentName document, bool write) =>
        key is null ? ApiAccess.Unauthenticated
        : !key.Reaches(document) || (write && key.ReadOnly) ? ApiAccess.Forbidden
        : ApiAccess.Allowed;

    private static byte[] Digest(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}
