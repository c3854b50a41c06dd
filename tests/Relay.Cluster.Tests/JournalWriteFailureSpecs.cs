using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// Journal writes that fail while others succeed must never leave a hole in the history. Under steady traffic,
/// the PostgreSQL backends that serve the node are terminated again and again (<c>pg_terminate_backend</c>),
/// so that some writes fail on their database connection while the next ones, on fresh connections, commit.
/// Afterwards the journal holds sequence numbers 1..N without a gap, N is exactly the number of patches sent,
/// and the watcher and a late joiner got each patch once, in order. One node: the sequencer's own write path
/// is the point, not the cluster.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class JournalWriteFailureSpecs
{
    private const string Document = "write-failures";
    private const int PatchCount = 1500;
    private static readonly TimeSpan SendInterval = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan KillingFor = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan KillingAtMost = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan KillEvery = TimeSpan.FromMilliseconds(100);

    private readonly PostgresServer _postgres;
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs on the collection's PostgreSQL server.</summary>
    public JournalWriteFailureSpecs(PostgresServer postgres, ITestOutputHelper output)
    {
        _postgres = postgres;
        _output = output;
    }

    [Fact]
    public async Task Should_leave_no_hole_in_the_journal_when_writes_fail_on_terminated_database_connections()
    {
        var connectionString = await _postgres.CreateDatabaseAsync("relay_write_failures");
        await using var node = RelayNode.Postgres("writer", connectionString, []);
        await node.StartAsync();
        await using var sender = await RelayClient.ConnectAsync(node.WebSocketUrlOf(Document));
        await using var watcher = await RelayClient.ConnectAsync(node.WebSocketUrlOf(Document));
        var traffic = SteadyTraffic.Start(sender, watcher, "w", SendInterval, PatchCount, TimeSpan.FromSeconds(60));

        await Probe.EventuallyAsync(() => traffic.SentCount > 200, TimeSpan.FromSeconds(20));
        var terminated = await TerminateBackendsAsync(connectionString, () => JournalWriteFailuresAsync(node));
        var (sent, received) = await traffic.FinishAsync(TimeSpan.FromSeconds(40));
        var failedWrites = await JournalWriteFailuresAsync(node);
        var journaled = (await Probe.JournalRowsAsync(connectionString, Document)).Select(row => row.Sequence).ToList();
        var history = await Probe.ReadHistoryAsync(node, journaled.Count, Document);
        var tally = DeliveryTally.Of(sent, received);

        _output.WriteLine($"{terminated} backends terminated; {failedWrites} journal writes failed; {tally}");
        _output.WriteLine($"journal: {journaled.Count} rows, sequence numbers {journaled.FirstOrDefault()}..{journaled.LastOrDefault()}");
        Assert.True(sent.Count == PatchCount, $"the sender got only {sent.Count} of {PatchCount} patches out\n{node.Output}");
        Assert.True(failedWrites > 0, $"no journal write failed: the spec proved nothing ({terminated} backends terminated)\n{node.Output}");
        Assert.Equal(Enumerable.Range(1, sent.Count).Select(i => (long)i), journaled);
        Assert.True(tally.IsExact, $"{tally}\n{node.Output}");
        Assert.Equal(sent, history);
    }

    /// <summary>
    /// Terminates every other backend of the database, every <see cref="KillEvery"/> for <see cref="KillingFor"/>, and
    /// on until a journal write has failed (<paramref name="failedWrites"/>), at most <see cref="KillingAtMost"/>: on a
    /// loaded machine the first seconds may catch no write under way. Returns how many.
    /// </summary>
    private static async Task<int> TerminateBackendsAsync(string connectionString, Func<Task<long>> failedWrites)
    {
        var terminated = 0;
        var started = DateTime.UtcNow;
        await using var admin = new NpgsqlConnection(connectionString + ";Pooling=false");
        await admin.OpenAsync();
        while (DateTime.UtcNow - started < KillingFor ||
               (DateTime.UtcNow - started < KillingAtMost && await failedWrites() == 0))
        {
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity " +
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend') AS killed",
                admin);
            terminated += Convert.ToInt32(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
            await Task.Delay(KillEvery);
        }

        return terminated;
    }

    private static async Task<long> JournalWriteFailuresAsync(RelayNode node)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var metrics = await http.GetStringAsync(new Uri(node.HttpUrl, "metrics"));
        var match = WriteFailures().Match(metrics);
        return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^relay_journal_write_failures_total(?:\{[^}]*\})? (\d+)", RegexOptions.Multiline)]
    private static partial Regex WriteFailures();
}
