using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>
/// Issue 2's browser check: pages that send Immer patches through the standard browser WebSocket stay in sync
/// with each other and with a page opened later, on one node.
/// </summary>
public sealed class BrowserSpecs
{
    private readonly ITestOutputHelper _output;

    public BrowserSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_keep_browser_pages_sending_Immer_patches_in_sync_with_each_other_and_a_later_page()
    {
        await using var node = RelayNode.Sqlite("browser");
        await node.StartAsync();

        await BrowserCheck.AssertPagesStayInSyncAsync(_output, node.WebSocketUrl);
    }
}
