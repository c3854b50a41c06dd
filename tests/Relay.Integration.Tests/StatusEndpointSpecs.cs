using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Relay.Integration.Tests.Infrastructure;

namespace Relay.Integration.Tests;

/// <summary>Plain HTTP at <c>/</c>: a status document, never a server error.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class StatusEndpointSpecs
{
    private readonly SharedNodeFixture _fixture;

    public StatusEndpointSpecs(SharedNodeFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task Should_answer_a_plain_GET_without_upgrade_with_a_json_status()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        using var response = await http.GetAsync(_fixture.Node.HttpUrl);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var status = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("relay", status.GetProperty("service").GetString());
        Assert.Equal("ready", status.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("Upgrade", "websocket")] // an upgrade without its key and version
    [InlineData("Upgrade", "h2c")]
    [InlineData("Sec-WebSocket-Version", "13")]
    public async Task Should_never_answer_a_half_made_upgrade_with_a_server_error(string header, string value)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Get, _fixture.Node.HttpUrl);
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation(header, value);

        using var response = await http.SendAsync(request);

        Assert.True((int)response.StatusCode < 500, $"GET / with {header}: {value} answered {(int)response.StatusCode}");
    }
}
