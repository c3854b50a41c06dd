using System.Net;
using System.Net.WebSockets;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary>A node with every access rule on.</summary>
public sealed class GuardedNode : IAsyncLifetime
{
    /// <summary>The shared bearer token.</summary>
    public const string Token = "s3cret-relay-token";

    /// <summary>The JWT signing key.</summary>
    public const string SigningKey = "relay-test-signing-key-of-at-least-32-bytes";

    /// <summary>The JWT issuer.</summary>
    public const string Issuer = "relay-tests";

    /// <summary>The JWT audience.</summary>
    public const string Audience = "relay";

    /// <summary>The allowed origin.</summary>
    public const string Origin = "https://app.example";

    /// <summary>The node's connection limit.</summary>
    public const int MaxConnections = 3;

    /// <summary>The per-connection message rate.</summary>
    public const int MaxMessagesPerSecond = 5;

    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("ops-guarded", extra: new Dictionary<string, string>
    {
        ["Relay:AllowedOrigins:0"] = Origin,
        ["Relay:AllowedOrigins:1"] = "http://localhost:8080",
        ["Relay:Auth:Token"] = Token,
        ["Relay:Auth:Jwt:SigningKey"] = SigningKey,
        ["Relay:Auth:Jwt:Issuer"] = Issuer,
        ["Relay:Auth:Jwt:Audience"] = Audience,
        ["Relay:MaxConnections"] = MaxConnections.ToString(),
        ["Relay:MaxMessagesPerSecond"] = MaxMessagesPerSecond.ToString(),
    });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>Origins, credentials, the connection limit and the message rate, each allowed and refused.</summary>
public sealed class AccessControlSpecs : IClassFixture<GuardedNode>
{
    private readonly RelayNode _node;

    /// <summary>Uses the shared node.</summary>
    public AccessControlSpecs(GuardedNode fixture) => _node = fixture.Node;

    private static Action<ClientWebSocketOptions> Bearer(string token, string? origin = GuardedNode.Origin) => options =>
    {
        options.SetRequestHeader("Authorization", "Bearer " + token);
        if (origin is not null)
        {
            options.SetRequestHeader("Origin", origin);
        }
    };

    [Fact]
    public async Task Should_refuse_an_unlisted_origin_with_403_and_accept_a_listed_one()
    {
        Assert.Equal(HttpStatusCode.Forbidden, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token, "https://evil.example")));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token, GuardedNode.Origin)));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token, "http://localhost:8080")));
    }

    [Fact]
    public async Task Should_refuse_missing_or_wrong_credentials_with_401_and_keep_operations_endpoints_open()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(_node.WebSocketUrl, options => options.SetRequestHeader("Origin", GuardedNode.Origin)));
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer("wrong-token")));
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(new Uri(_node.WebSocketUrl, "?access_token=wrong-token")));

        Assert.Equal(HttpStatusCode.OK, await Http.ReadyStatusAsync(_node));
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(_node, "/healthz")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(_node, "/metrics")).Status);
    }

    [Fact]
    public async Task Should_accept_the_shared_token_from_the_header_or_the_access_token_parameter()
    {
        // The node admits MaxConnections sockets; those of the test before may still be closing.
        await WaitForNoConnectionsAsync();
        await using var byHeader = await RelayClient.ConnectAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token));
        await using var byQuery = await RelayClient.ConnectAsync(new Uri(_node.WebSocketUrl, "?access_token=" + GuardedNode.Token));

        var text = "from-query-" + Guid.NewGuid();
        await byQuery.SendTextAsync(text);
        await Receive.UntilAsync(byHeader, text);
    }

    [Fact]
    public async Task Should_accept_a_valid_jwt_and_refuse_an_expired_forged_or_foreign_one()
    {
        // The node admits MaxConnections sockets; those of the test before may still be closing.
        await WaitForNoConnectionsAsync();
        var valid = Jwt.Create(GuardedNode.SigningKey, GuardedNode.Issuer, GuardedNode.Audience, DateTimeOffset.UtcNow.AddMinutes(5));
        var expired = Jwt.Create(GuardedNode.SigningKey, GuardedNode.Issuer, GuardedNode.Audience, DateTimeOffset.UtcNow.AddMinutes(-10));
        var forged = Jwt.Create("another-signing-key-of-at-least-32-bytes!!", GuardedNode.Issuer, GuardedNode.Audience, DateTimeOffset.UtcNow.AddMinutes(5));
        var foreign = Jwt.Create(GuardedNode.SigningKey, GuardedNode.Issuer, "another-audience", DateTimeOffset.UtcNow.AddMinutes(5));

        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(valid)));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(new Uri(_node.WebSocketUrl, "?access_token=" + valid)));
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(expired)));
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(forged)));
        Assert.Equal(HttpStatusCode.Unauthorized, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(foreign)));
    }

    [Fact]
    public async Task Should_refuse_upgrades_beyond_MaxConnections_with_503_while_open_sockets_carry_on()
    {
        await WaitForNoConnectionsAsync();
        var open = new List<RelayClient>();
        try
        {
            for (var i = 0; i < GuardedNode.MaxConnections; i++)
            {
                open.Add(await RelayClient.ConnectAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token)));
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token)));

            var text = "still-relaying-" + Guid.NewGuid();
            await open[0].SendTextAsync(text);
            await Receive.UntilAsync(open[1], text);
            await Receive.UntilAsync(open[2], text);

            await open[0].CloseAsync();
            var admitted = await Http.EventuallyAsync(
                async () => await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token)) == HttpStatusCode.SwitchingProtocols,
                TimeSpan.FromSeconds(10));
            Assert.True(admitted);
        }
        finally
        {
            foreach (var client in open)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Should_close_a_client_over_its_message_rate_with_1008_and_leave_others_alone()
    {
        // The node admits MaxConnections sockets; those of the test before may still be closing.
        await WaitForNoConnectionsAsync();
        await using var listener = await RelayClient.ConnectAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token));
        await using var polite = await RelayClient.ConnectAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token));
        await using var flooder = await RelayClient.ConnectAsync(_node.WebSocketUrl, Bearer(GuardedNode.Token));

        for (var i = 0; i < 50 && !flooder.Closed.IsCompleted; i++)
        {
            try
            {
                await flooder.SendTextAsync("flood-" + i);
            }
            catch (WebSocketException)
            {
                break;
            }
        }

        var (status, description) = await flooder.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, status);
        Assert.Contains("rate", description);

        var text = "polite-" + Guid.NewGuid();
        await polite.SendTextAsync(text);
        await Receive.UntilAsync(listener, text);
        Assert.Equal(WebSocketState.Open, polite.Socket.State);
    }

    private async Task WaitForNoConnectionsAsync()
    {
        // Sessions of earlier tests end a moment after their clients go.
        var idle = await Http.EventuallyAsync(async () =>
        {
            var (_, json) = await Http.GetJsonAsync(_node, "/");
            return json.GetProperty("connections").GetInt32() == 0;
        }, TimeSpan.FromSeconds(15));
        Assert.True(idle);
    }
}
