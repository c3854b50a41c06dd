using Relay.Actors.Hosting;
using Xunit;

namespace Relay.Actors.Tests;

/// <summary>Validation of <c>Relay:Webhooks</c>: off without a URL; what cannot deliver fails at start, with a reason.</summary>
public sealed class WebhookOptionsSpecs
{
    [Fact]
    public void Should_be_off_without_a_url_whatever_else_is_set()
    {
        var options = new RelayOptions { Webhooks = { Secret = "short", MaxBatch = 0 } };
        options.Validate();

        Assert.False(options.Webhooks.IsEnabled);
    }

    [Fact]
    public void Should_take_an_http_url_with_a_long_enough_secret_and_a_document_prefix()
    {
        var options = new RelayOptions { Webhooks = { Url = "https://hooks.example.com/relay", Secret = "0123456789abcdef", Prefix = "boards/" } };
        options.Validate();

        Assert.True(options.Webhooks.IsEnabled);
    }

    [Theory]
    [InlineData("ftp://hooks.example.com/", "0123456789abcdef", "", "Url")]
    [InlineData("/relative", "0123456789abcdef", "", "Url")]
    [InlineData("http://127.0.0.1:9000/", "too-short", "", "Secret")]
    [InlineData("http://127.0.0.1:9000/", null, "", "Secret")]
    [InlineData("http://127.0.0.1:9000/", "0123456789abcdef", "bad name/", "Prefix")]
    public void Should_refuse_what_cannot_deliver_naming_the_setting(string url, string? secret, string prefix, string setting)
    {
        var options = new RelayOptions { Webhooks = { Url = url, Secret = secret, Prefix = prefix } };

        var error = Assert.Throws<InvalidOperationException>(options.Validate).Message;

        Assert.Contains("Relay:Webhooks:" + setting, error, StringComparison.Ordinal);
    }
}
