using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Relay.Gateway.Operations;

/// <summary>Authenticates a request whose bearer token equals the configured shared token (<c>Relay:Auth:Token</c>).</summary>
public sealed class SharedTokenAuthenticationHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    /// <summary>The scheme's name.</summary>
    public const string SchemeName = "RelayToken";

    private readonly byte[] _expected;

    /// <summary>Creates the handler for one request.</summary>
    public SharedTokenAuthenticationHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options,
        ILoggerFactory logger,
        UrlEncoder encoder,
        AccessOptions access)
        : base(options, logger, encoder)
    {
        _expected = Encoding.UTF8.GetBytes(access.Auth.Token ?? string.Empty);
    }

    /// <inheritdoc />
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = BearerToken.From(Request);
        if (token is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        // Constant time, so the comparison does not tell how much of a guess was right.
        if (_expected.Length == 0 || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), _expected))
        {
            return Task.FromResult(AuthenticateResult.Fail("wrong token"));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "relay-client")], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <inheritdoc />
    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}

/// <summary>Where a WebSocket client's bearer token is: browsers cannot set headers on a WebSocket, so a query parameter too.</summary>
public static class BearerToken
{
    /// <summary>The query parameter browsers use.</summary>
    public const string QueryParameter = "access_token";

    /// <summary>The token from <c>Authorization: Bearer ...</c>, else from <c>?access_token=...</c>; null if neither.</summary>
    public static string? From(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var token = header["Bearer ".Length..].Trim();
            return token.Length > 0 ? token : null;
        }

        var query = request.Query[QueryParameter].ToString();
        return query.Length > 0 ? query : null;
    }
}
