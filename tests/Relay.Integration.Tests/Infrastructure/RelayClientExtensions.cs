using Relay.Testing;

namespace Relay.Integration.Tests.Infrastructure;

/// <summary>Helpers to reach a known point in a node's stream of patches.</summary>
public static class RelayClientExtensions
{
    private static readonly TimeSpan PerMessage = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Connects <paramref name="count"/> clients and reads away the history each one receives: a beacon client
    /// sends a unique marker, and each client reads up to and including it. Afterwards every client sees only
    /// what is sent from then on.
    /// </summary>
    public static async Task<RelayClient[]> ConnectAtLiveEdgeAsync(this RelayNode node, int count)
    {
        var clients = new RelayClient[count];
        for (var i = 0; i < count; i++)
        {
            clients[i] = await RelayClient.ConnectAsync(node.WebSocketUrl);
        }

        await using (var beacon = await RelayClient.ConnectAsync(node.WebSocketUrl))
        {
            var marker = "edge:" + Guid.NewGuid().ToString("N");
            await beacon.SendTextAsync(marker);
            await Task.WhenAll(clients.Select(client => client.ReadUntilTextAsync(marker)));
        }

        return clients;
    }

    /// <summary>Reads until a text message equal to <paramref name="marker"/>; returns what came before it.</summary>
    public static async Task<List<Received>> ReadUntilTextAsync(this RelayClient client, string marker, int limit = 200_000)
    {
        var before = new List<Received>();
        while (before.Count < limit)
        {
            var message = await client.ReceiveAsync(PerMessage);
            if (message.IsText && message.Text == marker)
            {
                return before;
            }

            before.Add(message);
        }

        throw new InvalidOperationException($"no '{marker}' within {limit} messages");
    }

    /// <summary>The text payloads of <paramref name="messages"/> that start with <paramref name="prefix"/>.</summary>
    public static List<string> TextsStartingWith(this IEnumerable<Received> messages, string prefix) =>
        messages.Where(m => m.IsText && m.Text.StartsWith(prefix, StringComparison.Ordinal)).Select(m => m.Text).ToList();

    /// <summary>Disposes every client.</summary>
    public static async Task DisposeAllAsync(this IEnumerable<RelayClient> clients)
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }
}
