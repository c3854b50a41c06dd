using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;

namespace Relay.Integration.Tests;

/// <summary>One total order: every receiver, live or late, sees concurrent senders' patches in the same order.</summary>
[Collection(SharedNodeCollection.Name)]
public sealed class OrderingSpecs
{
    private const int Senders = 4;
    private const int PatchesPerSender = 250;
    private const int Observers = 3;

    private readonly SharedNodeFixture _fixture;

    public OrderingSpecs(SharedNodeFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task Should_show_concurrent_senders_patches_in_one_total_order_to_every_receiver()
    {
        var run = Guid.NewGuid().ToString("N");
        var clients = await _fixture.Node.ConnectAtLiveEdgeAsync(Senders + Observers);
        var senders = clients[..Senders];
        var observers = clients[Senders..];
        try
        {
            await Task.WhenAll(senders.Select((sender, s) => Task.Run(async () =>
            {
                for (var i = 0; i < PatchesPerSender; i++)
                {
                    await sender.SendTextAsync($"{run}:{s}:{i:D4}");
                }
            })));

            const int total = Senders * PatchesPerSender;
            var observed = new List<List<string>>();
            foreach (var observer in observers)
            {
                observed.Add((await observer.ReceiveManyAsync(total, TimeSpan.FromSeconds(60))).TextsStartingWith(run));
            }

            var order = observed[0];
            Assert.Equal(total, order.Count);
            Assert.Equal(total, order.Distinct().Count());
            foreach (var other in observed.Skip(1))
            {
                Assert.Equal(order, other);
            }

            // Each sender's own patches keep the order it sent them in.
            for (var s = 0; s < Senders; s++)
            {
                var own = order.Where(text => text.StartsWith($"{run}:{s}:", StringComparison.Ordinal)).ToList();
                Assert.Equal(own.Order(StringComparer.Ordinal), own);
            }

            // A sender sees the same order, without its own patches.
            for (var s = 0; s < Senders; s++)
            {
                var expected = order.Where(text => !text.StartsWith($"{run}:{s}:", StringComparison.Ordinal)).ToList();
                var seen = (await senders[s].ReceiveManyAsync(expected.Count, TimeSpan.FromSeconds(60))).TextsStartingWith(run);
                Assert.Equal(expected, seen);
            }

            // A client that joins afterwards gets this run from the history, in the same order.
            var end = $"{run}:end";
            await observers[0].SendTextAsync(end);
            await using var late = await RelayClient.ConnectAsync(_fixture.Node.WebSocketUrl);
            var history = (await late.ReadUntilTextAsync(end)).TextsStartingWith(run);
            Assert.Equal(order, history);
        }
        finally
        {
            await clients.DisposeAllAsync();
        }
    }
}
