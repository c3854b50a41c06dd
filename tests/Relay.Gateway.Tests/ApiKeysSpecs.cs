using Relay.Actors.Documents;
using Relay.Gateway.Api;
using Xunit;

namespace Relay.Gateway.Tests;

/// <summary>The server API's keys: which key a request presents, what it may do, and which settings are refused at start.</summary>
public sealed class ApiKeysSpecs
{
    private static readonly ApiOptions Options = new()
    {
        Keys =
        [
            new ApiKeyOptions { Name = "admin", Secret = "admin-secret-0123456789" },
            new ApiKeyOptions { Name = "boards", Secret = "boards-secret-0123456789", Prefixes = ["boards/"], ReadOnly = true },
        ],
    };

    [Fact]
    public void Should_find_the_key_of_a_bearer_header_and_no_key_for_anything_else()
    {
        var keys = new ApiKeys(Options);

        Assert.Equal("admin", keys.Find("Bearer admin-secret-0123456789")?.Name);
        Assert.Equal("boards", keys.Find("bearer  boards-secret-0123456789 ")?.Name);
        Assert.Null(keys.Find("Bearer admin-secret-012345678"));
        Assert.Null(keys.Find("Bearer admin-secret-0123456789x"));
        Assert.Null(keys.Find("Basic admin-secret-0123456789"));
        Assert.Null(keys.Find("admin-secret-0123456789"));
        Assert.Null(keys.Find(null));
    }

    [Fact]
    public void Should_allow_a_key_only_its_prefixes_and_no_writes_when_read_only()
    {
        var admin = Options.Keys[0];
        var boards = Options.Keys[1];
        var board = DocumentName.Parse("boards/b1");
        var other = DocumentName.Parse("boardsx");

        Assert.Equal(ApiAccess.Allowed, ApiKeys.Check(admin, other, write: true));
        Assert.Equal(ApiAccess.Allowed, ApiKeys.Check(boards, board, write: false));
        Assert.Equal(ApiAccess.Forbidden, ApiKeys.Check(boards, board, write: true));
        Assert.Equal(ApiAccess.Forbidden, ApiKeys.Check(boards, other, write: false));
        Assert.Equal(ApiAccess.Unauthenticated, ApiKeys.Check(null, board, write: false));
    }

    [Theory]
    [InlineData("short", null, "at least 16")]
    [InlineData("has a space in it 0123", null, "printable")]
    [InlineData("socket-token-0123456789", "socket-token-0123456789", "never open a WebSocket")]
    public void Should_refuse_a_secret_that_cannot_be_an_api_key(string secret, string? socketToken, string error)
    {
        var options = new ApiOptions { Keys = [new ApiKeyOptions { Secret = secret }] };

        Assert.Contains(error, Assert.Throws<InvalidOperationException>(() => options.Validate(socketToken)).Message);
    }

    [Fact]
    public void Should_refuse_twin_keys_and_prefixes_no_document_name_starts_with()
    {
        var twins = new ApiOptions { Keys = [new ApiKeyOptions { Secret = "same-secret-0123456789" }, new ApiKeyOptions { Secret = "same-secret-0123456789" }] };
        var badPrefix = new ApiOptions { Keys = [new ApiKeyOptions { Secret = "some-secret-0123456789", Prefixes = ["boards//"] }] };

        Assert.Contains("same Secret", Assert.Throws<InvalidOperationException>(() => twins.Validate(null)).Message);
        Assert.Contains("prefix", Assert.Throws<InvalidOperationException>(() => badPrefix.Validate(null)).Message);
        Options.Validate(null);
        Assert.False(new ApiOptions().IsEnabled);
    }
}
