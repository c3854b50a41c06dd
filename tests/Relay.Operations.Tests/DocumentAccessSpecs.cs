using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary>A node that requires credentials, with no other limit in the way of many upgrades.</summary>
public sealed class DocumentGuardedNode : IAsyncLifetime
{
    /// <summary>The node.</summary>
    public RelayNode Node { get; } = RelayNode.Sqlite("ops-documents", extra: new Dictionary<string, string>
    {
        ["Relay:Auth:Token"] = GuardedNode.Token,
        ["Relay:Auth:Jwt:SigningKey"] = GuardedNode.SigningKey,
        ["Relay:Auth:Jwt:Issuer"] = GuardedNode.Issuer,
        ["Relay:Auth:Jwt:Audience"] = GuardedNode.Audience,
    });

    /// <inheritdoc />
    public Task InitializeAsync() => Node.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>A JWT's <c>relay:docs</c> claim limits the documents it opens; tokens without it, and the shared token, open all.</summary>
public sealed class DocumentAccessSpecs : IClassFixture<DocumentGuardedNode>
{
    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly RelayNode _node;

    /// <summary>Uses the fixture's node.</summary>
    public DocumentAccessSpecs(DocumentGuardedNode fixture) => _node = fixture.Node;

    [Theory]
    [InlineData("gifts/x", HttpStatusCode.SwitchingProtocols)]
    [InlineData("gifts/family-2026/list", HttpStatusCode.SwitchingProtocols)]
    [InlineData("notes", HttpStatusCode.SwitchingProtocols)]
    [InlineData("notes/x", HttpStatusCode.Forbidden)]
    [InlineData("other", HttpStatusCode.Forbidden)]
    [InlineData("gifts", HttpStatusCode.Forbidden)]
    [InlineData("giftsx", HttpStatusCode.Forbidden)]
    [InlineData("", HttpStatusCode.Forbidden)]
    public async Task Should_open_only_the_documents_a_tokens_relay_docs_claim_lists(string document, HttpStatusCode expected)
    {
        var token = TokenFor(["gifts/*", "notes"]);

        Assert.Equal(expected, await Upgrade.StatusAsync(_node.WebSocketUrlOf(document), Bearer(token)));
        Assert.Equal(expected, await Upgrade.StatusAsync(new Uri(_node.WebSocketUrlOf(document) + "?access_token=" + token)));
    }

    [Theory]
    [InlineData("gifts/x", HttpStatusCode.OK)]
    [InlineData("notes", HttpStatusCode.OK)]
    [InlineData("notes/x", HttpStatusCode.Forbidden)]
    [InlineData("other", HttpStatusCode.Forbidden)]
    public async Task Should_answer_GET_of_a_document_the_claim_leaves_out_with_403(string document, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, _node.HttpUrlOf(document));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TokenFor(["gifts/*", "notes"]));

        using var response = await Client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Should_answer_GET_of_a_document_without_credentials_with_401_and_keep_the_node_status_open()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await Http.GetAsync(_node, "/notes")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(_node, "/")).Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("notes")]
    [InlineData("gifts/family-2026")]
    [InlineData("any/thing/at/all")]
    public async Task Should_open_every_document_with_a_jwt_without_the_claim_with_the_all_claim_or_with_the_shared_token(string document)
    {
        var url = _node.WebSocketUrlOf(document);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(url, Bearer(TokenFor(null))));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(url, Bearer(TokenFor(["*"]))));
        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(url, Bearer(GuardedNode.Token)));
    }

    [Fact]
    public async Task Should_open_the_default_document_only_for_the_empty_name_in_the_claim()
    {
        var token = TokenFor([""]);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, await Upgrade.StatusAsync(_node.WebSocketUrl, Bearer(token)));
        Assert.Equal(HttpStatusCode.Forbidden, await Upgrade.StatusAsync(_node.WebSocketUrlOf("notes"), Bearer(token)));
    }

    [Fact]
    public async Task Should_relay_between_clients_whose_tokens_open_the_document()
    {
        var document = "gifts/" + Guid.NewGuid().ToString("N");
        await using var narrow = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document), Bearer(TokenFor(["gifts/*"])));
        await using var wide = await RelayClient.ConnectAsync(_node.WebSocketUrlOf(document), Bearer(GuardedNode.Token));

        await narrow.SendTextAsync("for the family");

        Assert.Equal("for the family", (await wide.ReceiveAsync()).Text);
    }

    private static string TokenFor(IReadOnlyList<string>? documents) =>
        Jwt.Create(GuardedNode.SigningKey, GuardedNode.Issuer, GuardedNode.Audience, DateTimeOffset.UtcNow.AddMinutes(5), documents);

    private static Action<ClientWebSocketOptions> Bearer(string token) =>
        options => options.SetRequestHeader("Authorization", "Bearer " + token);
}
