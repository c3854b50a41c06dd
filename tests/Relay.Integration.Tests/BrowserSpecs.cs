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

    [Fact]
    public async Task Should_converge_a_page_built_from_a_compaction_snapshot_with_pages_that_applied_every_patch()
    {
        // The pages' own initial state, and a floor low enough that their few kilobytes of patches are snapshot.
        await using var node = RelayNode.Sqlite("browser-compaction", extra: new Dictionary<string, string>
        {
            ["Relay:Compaction:Mode"] = "immer",
            ["Relay:Compaction:InitialState"] = "{\"items\":[],\"notes\":{},\"title\":\"\"}",
            ["Relay:Compaction:SnapshotFloorBytes"] = "1024",
        });
        await node.StartAsync();

        await BrowserCheck.AssertPagesStayInSyncAsync(_output, lateFromSnapshot: true, node.WebSocketUrl);
    }
}
