using Microsoft.Data.Sqlite;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>History first, then live patches: on a node of its own, so the history is exactly what the test sent.</summary>
public sealed class HistorySpecs
{
    [Fact]
    public async Task Should_give_clients_joining_mid_stream_every_patch_once_and_in_order()
    {
        const int total = 1500;
        var joinAt = new[] { 1, 200, 600, 1000, 1400 };
        await using var node = RelayNode.Sqlite("seam");
        await node.StartAsync();
        await using var sender = await RelayClient.ConnectAsync(node.WebSocketUrl);
        await using var watcher = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var expected = Enumerable.Range(1, total).Select(i => $"p{i:D5}").ToList();
        var joiners = new List<RelayClient>();
        try
        {
            // The sender never pauses: each joiner connects while patches are being journaled and relayed,
            // so its history and its live patches meet at an arbitrary sequence number.
            var joining = Task.CompletedTask;
            for (var i = 1; i <= total; i++)
            {
                if (joinAt.Contains(i))
                {
                    var previous = joining;
                    joining = Task.Run(async () =>
                    {
                        await previous;
                        joiners.Add(await RelayClient.ConnectAsync(node.WebSocketUrl));
                    });
                }

                await sender.SendTextAsync(expected[i - 1]);
            }

            await joining;
            Assert.Equal(expected, (await watcher.ReceiveManyAsync(total, TimeSpan.FromSeconds(60))).Select(m => m.Text));
            foreach (var joiner in joiners)
            {
                var seen = (await joiner.ReceiveManyAsync(total, TimeSpan.FromSeconds(60))).Select(m => m.Text).ToList();
                Assert.Equal(expected, seen);
                Assert.Null(await joiner.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
            }
        }
        finally
        {
            foreach (var joiner in joiners)
            {
                await joiner.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Should_replay_the_history_to_a_joiner_while_a_write_transaction_holds_the_database()
    {
        var database = Path.Combine(RepoPaths.NewTempFolder("read-lock"), "relay.db");
        await using var node = RelayNode.Sqlite("read-lock", database);
        await node.StartAsync();
        await using (var sender = await RelayClient.ConnectAsync(node.WebSocketUrl))
        await using (var watcher = await RelayClient.ConnectAsync(node.WebSocketUrl))
        {
            for (var i = 1; i <= 20; i++)
            {
                await sender.SendTextAsync($"p{i}");
            }

            await watcher.ReceiveManyAsync(20, TimeSpan.FromSeconds(30));
        }

        // A first joiner replays before the lock: the read journal exists then (creating it asks the write journal,
        // which a held lock can keep busy, as it keeps every writer waiting).
        await using (var first = await RelayClient.ConnectAsync(node.WebSocketUrl))
        {
            await first.ReceiveManyAsync(20, TimeSpan.FromSeconds(30));
        }

        // Another connection holds SQLite's write lock (the journal's own commits do, many times a second under
        // load). Reads need no lock in WAL mode: the joiner gets the history now, not once the lock is gone.
        await using var writer = new SqliteConnection($"Data Source={database}");
        await writer.OpenAsync();
        await using var transaction = writer.BeginTransaction(deferred: false);
        await using var joiner = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var history = await joiner.ReceiveManyAsync(20, TimeSpan.FromSeconds(20));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"p{i}"), history.Select(m => m.Text));
        transaction.Rollback();
    }

    [Fact]
    public async Task Should_give_a_late_joiner_5000_patches_in_order()
    {
        const int total = 5000;
        await using var node = RelayNode.Sqlite("late-5000");
        await node.StartAsync();
        await using var sender = await RelayClient.ConnectAsync(node.WebSocketUrl);
        await using var watcher = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var expected = Enumerable.Range(1, total).Select(i => $"{{\"n\":{i}}}").ToList();
        foreach (var patch in expected)
        {
            await sender.SendTextAsync(patch);
        }

        // The watcher has them all once they are all journaled.
        await watcher.ReceiveManyAsync(total, TimeSpan.FromSeconds(90));

        await using var late = await RelayClient.ConnectAsync(node.WebSocketUrl);
        var history = await late.ReceiveManyAsync(total, TimeSpan.FromSeconds(60));
        Assert.Equal(expected, history.Select(m => m.Text));
        Assert.All(history, m => Assert.True(m.IsText));
        Assert.Null(await late.ReceiveNothingAsync(TimeSpan.FromMilliseconds(300)));
    }
}
