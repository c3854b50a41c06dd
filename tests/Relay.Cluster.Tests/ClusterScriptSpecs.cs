using Relay.Testing;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Cluster.Tests;

/// <summary>
/// scripts/cluster.sh as a developer runs it (on free ports and a temp state folder instead of 5001 and
/// .tmp/cluster): PostgreSQL, three gateways and nginx come up, relay through nginx (the gift app's pages too, through
/// the SIGKILL of the sequencer's node), and go away on down.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterScriptSpecs
{
    private readonly ITestOutputHelper _output;

    /// <summary>Creates the specs.</summary>
    public ClusterScriptSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_relay_through_nginx_and_stop_everything_it_started()
    {
        var state = RepoPaths.NewTempFolder("cluster-sh");
        var lbPort = FreePort.Next();
        var httpBase = FreePort.NextBlock(3);
        var managementBase = FreePort.NextBlock(3);
        // The gateways inherit the runtime settings of every test node (RelayNode.TestRuntimeEnvironment).
        var environment = new Dictionary<string, string>(RelayNode.TestRuntimeEnvironment)
        {
            ["RELAY_CLUSTER_DIR"] = state,
            ["RELAY_LB_PORT"] = lbPort.ToString(),
            ["RELAY_HTTP_BASE"] = httpBase.ToString(),
            ["RELAY_AKKA_BASE"] = FreePort.NextBlock(3).ToString(),
            ["RELAY_MANAGEMENT_BASE"] = managementBase.ToString(),
            ["RELAY_PG_PORT"] = FreePort.Next().ToString(),
            ["RELAY_SKIP_BUILD"] = "1",
            ["RELAY_GATEWAY_DLL"] = RepoPaths.GatewayDll,
        };
        List<int> pids;
        try
        {
            var up = await RunAsync(environment, TimeSpan.FromSeconds(180), "up");
            Assert.True(up.ExitCode == 0, $"cluster.sh up failed:\n{up.Output}\n{Logs(state)}");
            var status = await RunAsync(environment, TimeSpan.FromSeconds(30), "status");
            _output.WriteLine(status.Output);
            pids = Directory.GetFiles(state, "*.pid").Select(file => int.Parse(File.ReadAllText(file).Trim())).ToList();
            NginxAssert.KeepsTokensOutOfLogsAndHoldsManySockets(File.ReadAllText(Path.Combine(state, "nginx", "nginx.conf")));
            // The gateways talk over TLS with the certificate the script generated.
            Assert.True(File.Exists(Path.Combine(state, "tls", "node.pfx")), "no certificate in the state folder");
            // They formed their cluster by Cluster Bootstrap: each one's contact point names the three members.
            using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) })
            {
                foreach (var n in Enumerable.Range(1, 3))
                {
                    using var seeds = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{managementBase + n}/bootstrap/seed-nodes")));
                    Assert.Equal(3, seeds.RootElement.GetProperty("Nodes").GetArrayLength());
                }
            }

            // Issue 3's browser check, on the empty history the pages expect: Immer pages on gateway1 and
            // gateway2 stay in sync, and a page opened later through the load balancer gets the same state.
            await BrowserCheck.AssertPagesStayInSyncAsync(
                _output,
                new Uri($"ws://127.0.0.1:{httpBase + 1}/"),
                new Uri($"ws://127.0.0.1:{httpBase + 2}/"),
                new Uri($"ws://127.0.0.1:{lbPort}/"));

            await using var viaNginx1 = await RelayClient.ConnectAsync(new Uri($"ws://127.0.0.1:{lbPort}/"));
            await using var viaNginx2 = await RelayClient.ConnectAsync(new Uri($"ws://127.0.0.1:{lbPort}/"));
            await using var direct = await RelayClient.ConnectAsync(new Uri($"ws://127.0.0.1:{httpBase + 3}/"));
            await viaNginx1.SendTextAsync("through nginx");
            var received = await Task.WhenAll(LastOfAsync(viaNginx2, "through nginx"), LastOfAsync(direct, "through nginx"));

            Assert.Equal(0, status.ExitCode);
            Assert.Equal(4, pids.Count);
            Assert.All(received, message => Assert.Equal("through nginx", message.Text));

            // Issue 11: the gift app's pages through nginx keep their edits while the sequencer's node is SIGKILLed,
            // and converge once the sequencer runs on another node. Last: it takes a gateway away.
            var gateways = Enumerable.Range(1, 3).Select(n =>
                (new Uri($"http://127.0.0.1:{httpBase + n}/"), int.Parse(File.ReadAllText(Path.Combine(state, $"gateway{n}.pid")).Trim())));
            await GiftAppCheck.AssertPagesConvergeThroughASequencerKillAsync(_output, new Uri($"ws://127.0.0.1:{lbPort}/"), gateways);
        }
        finally
        {
            var down = await RunAsync(environment, TimeSpan.FromSeconds(120), "down", "--purge");
            _output.WriteLine(down.Output);
        }

        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} still runs after down"));
        Assert.False(Directory.Exists(state));
    }

    // The pages' patches come first, as the history of a client that joins later.
    private static async Task<Received> LastOfAsync(RelayClient client, string text)
    {
        Received message;
        do
        {
            message = await client.ReceiveAsync(TimeSpan.FromSeconds(15));
        }
        while (message.Text != text);

        return message;
    }

    private static string Logs(string state) =>
        string.Join('\n', Directory.Exists(state)
            ? Directory.GetFiles(state, "*.log").Select(file => $"--- {Path.GetFileName(file)}\n{File.ReadAllText(file)}")
            : []);

    private static async Task<(int ExitCode, string Output)> RunAsync(IDictionary<string, string> environment, TimeSpan timeout, params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(
            "bash", [Path.Combine(RepoPaths.Root, "scripts", "cluster.sh"), .. arguments], timeout, environment: environment);
        return (result.ExitCode, result.TimedOut ? $"timed out after {timeout}:\n{result.Output}" : result.Output);
    }
}
