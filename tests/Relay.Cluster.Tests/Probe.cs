using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Relay.Testing;

namespace Relay.Cluster.Tests;

/// <summary>What one client saw: each text message with the moment it arrived.</summary>
public sealed record Arrival(string Text, TimeSpan At);

/// <summary>Helpers that drive and read real clients of a cluster.</summary>
public static partial class Probe
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private static readonly HttpClient MetricsHttp = new() { Timeout = TimeSpan.FromSeconds(15) };
    private static readonly TimeSpan MinTick = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// The highest sequence number of <paramref name="document"/> that <paramref name="node"/> reports: for the
    /// default document what its status page has seen, for another what the document's sequencer says.
    /// </summary>
    public static async Task<long> LastSequenceAsync(RelayNode node, string document = "")
    {
        var status = await Http.GetFromJsonAsync<JsonElement>(node.HttpUrlOf(document));
        return status.GetProperty("lastSequence").GetInt64();
    }

    /// <summary>
    /// Waits until every running node reports the same last sequence for a while (the sequencer's heartbeat
    /// reached them all and nothing is in flight), and returns it.
    /// </summary>
    public static async Task<long> SettledLastSequenceAsync(IEnumerable<RelayNode> nodes, TimeSpan? timeout = null, string document = "")
    {
        var running = nodes.Where(node => node.IsRunning).ToList();
        var deadline = Stopwatch.StartNew();
        long? previous = null;
        while (deadline.Elapsed < (timeout ?? TimeSpan.FromSeconds(30)))
        {
            var seen = await Task.WhenAll(running.Select(node => LastSequenceAsync(node, document)));
            if (seen.Distinct().Count() == 1 && previous == seen[0])
            {
                return seen[0];
            }

            previous = seen.Distinct().Count() == 1 ? seen[0] : null;
            await Task.Delay(TimeSpan.FromMilliseconds(1500));
        }

        throw new TimeoutException("the nodes did not agree on the last sequence number");
    }

    /// <summary>Connects a new client of <paramref name="document"/> to <paramref name="node"/> and reads the whole history (<paramref name="length"/> messages).</summary>
    public static async Task<IReadOnlyList<string>> ReadHistoryAsync(RelayNode node, long length, string document = "")
    {
        await using var client = await RelayClient.ConnectAsync(node.WebSocketUrlOf(document));
        var history = await client.ReceiveManyAsync((int)length, TimeSpan.FromSeconds(60));
        var extra = await client.ReceiveNothingAsync(TimeSpan.FromMilliseconds(500));
        if (extra is not null)
        {
            throw new InvalidOperationException($"history of /{document} on {node.Name} is longer than {length}: then came '{extra.Text}'");
        }

        return history.Select(message => message.Text).ToList();
    }

    /// <summary>
    /// Sends <c>{tag}:{i}</c> for i = 0, 1, ... at one per <paramref name="interval"/> on average until
    /// <paramref name="stop"/> is cancelled, <paramref name="maxCount"/> went out or the server closed the
    /// socket; returns what was sent (a frame whose send failed is not in the list).
    /// </summary>
    public static async Task<IReadOnlyList<string>> SendSteadilyAsync(
        RelayClient client,
        string tag,
        TimeSpan interval,
        int maxCount,
        CancellationToken stop,
        ConcurrentDictionary<string, TimeSpan>? sentAt = null,
        Stopwatch? clock = null)
    {
        var sent = new List<string>();
        var pace = Stopwatch.StartNew();
        // Timer ticks are coarser than a few milliseconds: each tick sends what is due by then, so a late tick,
        // or a send the server held back, is made up for and the rate holds on average.
        using var timer = new PeriodicTimer(interval < MinTick ? MinTick : interval);
        while (sent.Count < maxCount && !stop.IsCancellationRequested)
        {
            var due = Math.Min(maxCount, (long)(pace.Elapsed / interval) + 1);
            while (sent.Count < due)
            {
                var text = $"{tag}:{sent.Count}";
                if (clock is not null)
                {
                    sentAt?.TryAdd(text, clock.Elapsed);
                }

                if (client.Closed.IsCompleted)
                {
                    return sent;
                }

                try
                {
                    await client.SendTextAsync(text);
                }
                catch (Exception ex) when (ex is WebSocketException or InvalidOperationException or ObjectDisposedException)
                {
                    // The server closed or dropped the socket.
                    return sent;
                }

                sent.Add(text);
            }

            try
            {
                await timer.WaitForNextTickAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return sent;
    }

    /// <summary>Reads messages of <paramref name="client"/> into <paramref name="arrivals"/> until <paramref name="stop"/> is cancelled.</summary>
    public static async Task CollectAsync(RelayClient client, ConcurrentQueue<Arrival> arrivals, Stopwatch clock, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var message = await client.ReceiveNothingAsync(TimeSpan.FromMilliseconds(200));
            if (message is not null)
            {
                arrivals.Enqueue(new Arrival(message.Text, clock.Elapsed));
            }
            else if (client.Closed.IsCompleted && client.Pending == 0)
            {
                return;
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling; false when <paramref name="timeout"/> passed first.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling every 200 ms; false when <paramref name="timeout"/> passed first.</summary>
    public static Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout) => Eventually.HoldsAsync(condition, timeout);

    /// <summary>
    /// Up members as <paramref name="node"/> sees them (the <c>relay_cluster_members</c> gauge); -1 when the gauge
    /// is missing. Patient (15 s): a loaded node's metrics can take seconds.
    /// </summary>
    public static async Task<long> MembersAsync(RelayNode node)
    {
        var metrics = await MetricsHttp.GetStringAsync(new Uri(node.HttpUrl, "metrics"));
        var match = MembersGauge().Match(metrics);
        return match.Success ? long.Parse(match.Groups[1].Value) : -1;
    }

    /// <summary>
    /// The journal's rows of <paramref name="document"/> in the PostgreSQL journal at <paramref name="connectionString"/>, in
    /// sequence order: each row's sequence number and its writer (the sequencer incarnation that journaled it).
    /// </summary>
    public static async Task<List<(long Sequence, string Writer)>> JournalRowsAsync(string connectionString, string document)
    {
        await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT sequence_number, writer_uuid FROM journal WHERE persistence_id = @id ORDER BY sequence_number", connection);
        command.Parameters.AddWithValue("id", "relay-history/" + document);
        var rows = new List<(long Sequence, string Writer)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }

        return rows;
    }

    /// <summary>The messages in <paramref name="received"/> that belong to <paramref name="tag"/>, in arrival order.</summary>
    public static List<string> Tagged(IEnumerable<string> received, string tag) =>
        received.Where(text => text.StartsWith(tag + ":", StringComparison.Ordinal)).ToList();

    [GeneratedRegex(@"^relay_cluster_members(?:\{[^}]*\})? (\d+)", RegexOptions.Multiline)]
    private static partial Regex MembersGauge();
}
