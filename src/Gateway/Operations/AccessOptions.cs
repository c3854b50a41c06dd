namespace Relay.Gateway.Operations;

/// <summary>
/// Who may open a socket, bound from the <c>Relay</c> section. Everything is off by default so existing
/// clients keep working.
/// </summary>
public sealed class AccessOptions
{
    /// <summary>Origins allowed to upgrade (<c>https://app.example.com</c>); empty: any origin.</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Credentials required to upgrade; none set: anyone may connect.</summary>
    public AuthOptions Auth { get; set; } = new();
}

/// <summary>The credentials an upgrade must carry, as a bearer token in <c>Authorization</c> or in <c>access_token</c>.</summary>
public sealed class AuthOptions
{
    /// <summary>A shared secret every client presents as its bearer token.</summary>
    public string? Token { get; set; }

    /// <summary>JWTs signed with a shared key.</summary>
    public JwtOptions Jwt { get; set; } = new();

    /// <summary>Whether any credential is required.</summary>
    public bool IsEnabled => !string.IsNullOrEmpty(Token) || Jwt.IsEnabled;
}

/// <summary>How JWTs are validated (HMAC-SHA256 and friends, with a key from configuration).</summary>
public sealed class JwtOptions
{
    /// <summary>The symmetric signing key as text, at least 32 bytes of UTF-8 for HS256.</summary>
    public string? SigningKey { get; set; }

    /// <summary>The required <c>iss</c>; not checked when empty.</summary>
    public string? Issuer { get; set; }

    /// <summary>The required <c>aud</c>; not checked when empty.</summary>
    public string? Audience { get; set; }

    /// <summary>Whether JWTs are accepted.</summary>
    public bool IsEnabled => !string.IsNullOrEmpty(SigningKey);
}
