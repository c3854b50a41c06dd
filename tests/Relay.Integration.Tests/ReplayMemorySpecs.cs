using System.Diagnostics;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Relay.Integration.Tests.Infrastructure;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>
/// A replay holds a bounded window of the history in the node's memory, whatever the patch sizes: a real Gateway
/// process, its real SQLite journal, and clients that hash what they receive instead of keeping it.
/// </summary>
public sealed class ReplayMemorySpecs
{
    private const int Patches = 300;
    private const int PatchBytes = 1024 * 1024;
    private const int Joiners = 4;
    private const long MaxGrowth = 300L * 1024 * 1024;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(180);

    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs.</summary>
    public ReplayMemorySpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_replay_300_patches_of_1_MiB_to_4_joiners_at_once_with_bounded_memory()
    {
        const string document = "replay/large";
        await using var node = RelayNode.Sqlite("replay-memory");
        await node.StartAsync();
        var pid = node.ProcessId ?? throw new InvalidOperationException("node not running");

        var expected = new List<string>(Patches);
        await using (var sender = await RelayClient.ConnectAsync(node.WebSocketUrlOf(document), read: false))
        {
            var payload = new byte[PatchBytes];
            for (var i = 1; i <= Patches; i++)
            {
                new Random(i).NextBytes(payload);
                expected.Add(Convert.ToHexString(SHA256.HashData(payload)));
                await sender.SendBinaryAsync(payload);
            }

            await WaitForAsync(async () => (await node.StatusAsync(document)).GetProperty("lastSequence").GetInt64() == Patches, TimeSpan.FromSeconds(120));
        }

        var baseline = ProcessMemory.ResidentBytes(pid);
        ProcessMemory.ResetPeak(pid);
        using var sampling = new CancellationTokenSource();
        var sampledPeak = baseline;
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                sampledPeak = Math.Max(sampledPeak, ProcessMemory.ResidentBytes(pid));
                await Task.Delay(20, CancellationToken.None);
            }
        });

        var took = Stopwatch.StartNew();
        var received = await Task.WhenAll(Enumerable.Range(0, Joiners).Select(_ => HashHistoryAsync(node.WebSocketUrlOf(document), Patches)));
        took.Stop();
        await sampling.CancelAsync();
        await sampler;
        var peak = Math.Max(sampledPeak, ProcessMemory.PeakBytes(pid) ?? 0);

        _output.WriteLine(
            $"{Joiners} joiners read {Patches} patches of {PatchBytes >> 10} KiB each in {took.Elapsed.TotalSeconds:F1} s; " +
            $"RSS after the writes {baseline >> 20} MB, peak during the reads {peak >> 20} MB (+{(peak - baseline) >> 20} MB)");
        foreach (var hashes in received)
        {
            Assert.Equal(expected, hashes);
        }

        Assert.True(
            peak - baseline < MaxGrowth,
            $"RSS rose from {baseline >> 20} MB to {peak >> 20} MB while {Joiners} clients read {Patches} patches of {PatchBytes >> 10} KiB");
    }

    // The SHA-256 of each of the first count messages, in order; a message's bytes are hashed as they arrive and dropped.
    private static async Task<List<string>> HashHistoryAsync(Uri url, int count)
    {
        using var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(ReadTimeout);
        await socket.ConnectAsync(url, timeout.Token);
        var buffer = new byte[64 * 1024];
        var hashes = new List<string>(count);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        while (hashes.Count < count)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"closed with {result.CloseStatus} ({result.CloseStatusDescription}) after {hashes.Count} messages");
            }

            hash.AppendData(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                hashes.Add(Convert.ToHexString(hash.GetHashAndReset()));
            }
        }

        socket.Abort();
        return hashes;
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"condition not met within {timeout}");
            }

            await Task.Delay(100);
        }
    }
}
