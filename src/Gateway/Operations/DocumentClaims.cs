using System.Security.Claims;
using Relay.Actors.Documents;

namespace Relay.Gateway.Operations;

/// <summary>
/// The <c>relay:docs</c> claim of a JWT: the documents the token opens, as names (<c>gifts/family-2026</c>) or
/// prefixes ending in <c>*</c> (<c>gifts/*</c>, or <c>*</c> for all); the default document is the empty name
/// <c>""</c>. A token without the claim, and the shared token, open every document.
/// </summary>
public static class DocumentClaims
{
    /// <summary>The claim's type.</summary>
    public const string ClaimType = "relay:docs";

    /// <summary>Whether <paramref name="user"/> may open <paramref name="document"/>.</summary>
    public static bool Allow(ClaimsPrincipal user, DocumentName document)
    {
        // A JSON array in the token arrives as one claim per element; a single string as one claim.
        var patterns = user.FindAll(ClaimType).Select(claim => claim.Value).ToList();
        return patterns.Count == 0 || patterns.Any(pattern => Matches(pattern, document.Value));
    }

    private static bool Matches(string pattern, string name) =>
        pattern.EndsWith('*')
            ? name.StartsWith(pattern.AsSpan(0, pattern.Length - 1), StringComparison.Ordinal)
            : string.Equals(pattern, name, StringComparison.Ordinal);
}
