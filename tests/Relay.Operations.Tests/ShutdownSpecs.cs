using System.Net.WebSockets;
using Relay.Testing;

namespace Relay.Operations.Tests;

/// <summary>SIGTERM of a real Gateway process with clients connected.</summary>
public sealed class ShutdownSpecs
{
    [Fact]
    public async Task Should_close_every_socket_with_1001_and_exit_0_on_SIGTERM_keeping_the_history()
    {
        var database = Path.Combine(RepoPaths.NewTempFolder("ops-sigterm"), "relay.db");
        await using var node = RelayNode.Sqlite("ops-sigterm", database);
        await node.StartAsync();

        await using var sender = await RelayClient.ConnectAsync(node.WebSocketUrl);
        await using var reader = await RelayClient.ConnectAsync(node.WebSocketUrl);
        // Reads nothing until the node is going down: its writer is stuck mid-send when SIGTERM arrives.
        await using var stalled = await RelayClient.ConnectAsync(node.WebSocketUrl, read: false);

        const int count = 40;
        var patch = new byte[64 * 1024];
        for (var i = 0; i < count; i++)
        {
            patch[0] = (byte)i;
            await sender.SendBinaryAsync(patch);
        }

        await reader.ReceiveManyAsync(count);

        var terminating = node.TerminateAsync(TimeSpan.FromSeconds(10));
        // The node is going down once a reading client gets its close frame; only then does the stalled one read.
        await reader.Closed.WaitAsync(TimeSpan.FromSeconds(10));
        stalled.StartReading();
        var (exitCode, _) = await terminating;

        Assert.Equal(0, exitCode);
        foreach (var client in new[] { sender, reader, stalled })
        {
            var (status, _) = await client.Closed.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, status);
        }

        // Everything the node relayed was journaled: a restart on the same file replays it all.
        await node.StartAsync();
        await using var late = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var history = await late.ReceiveManyAsync(count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (byte)i), history.Select(message => message.Payload[0]));
    }
}
