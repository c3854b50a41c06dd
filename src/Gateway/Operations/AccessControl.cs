using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;
using Relay.Actors.Documents;
using Relay.Actors.Hosting;

namespace Relay.Gateway.Operations;

/// <summary>Registers who may open a socket: allowed origins, credentials and the node's connection limit.</summary>
public static class AccessControl
{
    /// <summary>Binds <see cref="AccessOptions"/> and sets up the authentication schemes it asks for.</summary>
    public static WebApplicationBuilder AddRelayAccessControl(this WebApplicationBuilder builder)
    {
        var access = new AccessOptions();
        builder.Configuration.GetSection(RelayOptions.Section).Bind(access);
        builder.Services.AddSingleton(access);
        builder.Services.AddSingleton<UpgradeGate>();

        if (!access.Auth.IsEnabled)
        {
            // No scheme, no authentication services: once they are registered, ASP.NET Core puts its authentication
            // middleware in every request's pipeline, and its frame stays alive as long as an upgraded socket
            // (about 0.7 KB of every idle connection, BENCHMARKS.md).
            return builder;
        }

        var authentication = builder.Services.AddAuthentication();

        // AddAuthentication registers ASP.NET Core data protection, which makes a key at start and, on a machine or
        // container that has none yet, warns that it is stored unencrypted. Relay protects nothing with it (no
        // cookies, no antiforgery; bearer tokens are validated, not protected), so those warnings are about a key
        // nobody uses; errors still show.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        // Request logs print the whole URL, and with it a token given as ?access_token=.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        if (!string.IsNullOrEmpty(access.Auth.Token))
        {
            authentication.AddScheme<AuthenticationSchemeOptions, SharedTokenAuthenticationHandler>(SharedTokenAuthenticationHandler.SchemeName, null);
        }

        if (access.Auth.Jwt.IsEnabled)
        {
            var jwt = access.Auth.Jwt;
            authentication.AddJwtBearer(JwtBearerDefaults.AuthenticationScheme, options =>
            {
                options.MapInboundClaims = false;
                options.TokenValidationParameters = new TokenValidationParameters
                {
                    IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(jwt.SigningKey!)),
                    ValidateIssuerSigningKey = true,
                    ValidateIssuer = !string.IsNullOrEmpty(jwt.Issuer),
                    ValidIssuer = jwt.Issuer,
                    ValidateAudience = !string.IsNullOrEmpty(jwt.Audience),
                    ValidAudience = jwt.Audience,
                    ValidateLifetime = true,
                };
                options.Events = new JwtBearerEvents
                {
                    OnMessageReceived = context =>
                    {
                        context.Token = BearerToken.From(context.Request);
                        return Task.CompletedTask;
                    },
                };
            });
        }

        return builder;
    }
}

/// <summary>
/// Decides, before the upgrade, whether a WebSocket request may become a connection of this node:
/// not while the node shuts down (503), not from an unlisted origin (403), not without credentials (401),
/// not beyond <see cref="GatewayOptions.MaxConnections"/> (503).
/// </summary>
public sealed class UpgradeGate
{
    private readonly GatewayOptions _options;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<UpgradeGate> _logger;
    private readonly HashSet<string> _origins;
    private readonly string[] _schemes;
    private int _admitted;

    /// <summary>Creates the node's gate.</summary>
    public UpgradeGate(AccessOptions access, GatewayOptions options, IHostApplicationLifetime lifetime, ILogger<UpgradeGate> logger)
    {
        _options = options;
        _lifetime = lifetime;
        _logger = logger;
        _origins = new HashSet<string>(access.AllowedOrigins.Select(origin => origin.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        _schemes = [
            .. string.IsNullOrEmpty(access.Auth.Token) ? Array.Empty<string>() : [SharedTokenAuthenticationHandler.SchemeName],
            .. access.Auth.Jwt.IsEnabled ? [JwtBearerDefaults.AuthenticationScheme] : Array.Empty<string>(),
        ];
    }

    /// <summary>Connections admitted and not yet finished: what <see cref="GatewayOptions.MaxConnections"/> counts.</summary>
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>Whether the node has begun to shut down and takes no more upgrades.</summary>
    public bool IsStopping => _lifetime.ApplicationStopping.IsCancellationRequested;

    /// <summary>
    /// Admits the upgrade to <paramref name="document"/> and returns its connection slot (dispose it when the
    /// socket is done), or writes the refusal and returns null.
    /// </summary>
    public async Task<IDisposable?> AdmitAsync(HttpContext context, DocumentName document)
    {
        if (IsStopping)
        {
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "relay node is shutting down");
            return null;
        }

        var origin = context.Request.Headers.Origin.ToString();
        if (_origins.Count > 0 && origin.Length > 0 && !_origins.Contains(origin.TrimEnd('/')))
        {
            _logger.LogWarning("Refused an upgrade from origin {Origin} ({RemoteAddress}): not in Relay:AllowedOrigins", origin, context.Connection.RemoteIpAddress);
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "origin not allowed");
            return null;
        }

        if (!await AuthorizeAsync(context, document))
        {
            return null;
        }

        if (Interlocked.Increment(ref _admitted) > _options.MaxConnections && _options.MaxConnections > 0)
        {
            Interlocked.Decrement(ref _admitted);
            _logger.LogWarning("Refused an upgrade from {RemoteAddress}: {MaxConnections} connections open (Relay:MaxConnections)", context.Connection.RemoteIpAddress, _options.MaxConnections);
            context.Response.Headers.RetryAfter = "5";
            await RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, "too many connections on this node");
            return null;
        }

        return new Slot(this);
    }

    /// <summary>
    /// Whether the request's credentials, when credentials are required, open <paramref name="document"/>: none
    /// or wrong ones get 401, a JWT whose <c>relay:docs</c> claim leaves the document out gets 403.
    /// </summary>
    public async Task<bool> AuthorizeAsync(HttpContext context, DocumentName document)
    {
        if (_schemes.Length == 0)
        {
            return true;
        }

        if (!await AuthenticateAsync(context))
        {
            _logger.LogWarning("Refused {Document} to {RemoteAddress}: missing or wrong credentials", document, context.Connection.RemoteIpAddress);
            await context.ChallengeAsync(_schemes[0]);
            return false;
        }

        if (!DocumentClaims.Allow(context.User, document))
        {
            _logger.LogWarning("Refused {Document} to {RemoteAddress}: not in the token's {Claim} claim", document, context.Connection.RemoteIpAddress, DocumentClaims.ClaimType);
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "document not allowed by the token");
            return false;
        }

        return true;
    }

    private async Task<bool> AuthenticateAsync(HttpContext context)
    {
        foreach (var scheme in _schemes)
        {
            var result = await context.AuthenticateAsync(scheme);
            if (result.Succeeded)
            {
                context.User = result.Principal;
                return true;
            }
        }

        return false;
    }

    private static async Task RefuseAsync(HttpContext context, int status, string reason)
    {
        context.Response.StatusCode = status;
        await context.Response.WriteAsync(reason);
    }

    private sealed class Slot(UpgradeGate gate) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref gate._admitted);
            }
        }
    }
}
