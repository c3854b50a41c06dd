using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Testing;

/// <summary>
/// The gift app (examples/gifts, on the JS client) in headless Chromium through a cluster behind a load balancer,
/// with the node that runs the document's sequencer SIGKILLed while two pages edit
/// (<c>examples/gifts/test/cluster-check.mjs</c>). Installs the client and the app from their lock files first
/// when they are not installed yet.
/// </summary>
public static class GiftAppCheck
{
    private static readonly string Client = Path.Combine(RepoPaths.Root, "clients", "js");
    private static readonly string App = Path.Combine(RepoPaths.Root, "examples", "gifts");

    /// <summary>Runs the check against the load balancer at <paramref name="loadBalancer"/>; <paramref name="nodes"/> are each node's HTTP URL and process id.</summary>
    public static async Task AssertPagesConvergeThroughASequencerKillAsync(ITestOutputHelper output, Uri loadBalancer, IEnumerable<(Uri Http, int Pid)> nodes)
    {
        await EnsurePackagesAsync();
        var run = await ProcessRunner.RunAsync(
            "node",
            ["test/cluster-check.mjs", loadBalancer.ToString().TrimEnd('/'), .. nodes.Select(node => $"{node.Http},{node.Pid}")],
            TimeSpan.FromMinutes(4),
            App);
        output.WriteLine(run.Output);
        var lastLine = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(lastLine.StartsWith('{'), $"cluster-check.mjs exited with {run.ExitCode} (timed out: {run.TimedOut}):\n{run.Output}");
        using var result = JsonDocument.Parse(lastLine);
        Assert.True(result.RootElement.GetProperty("ok").GetBoolean() && run.ExitCode == 0, $"cluster-check.mjs: {lastLine}");
    }

    // The app depends on the client's build (dist/), which its tests and the app's build load.
    private static async Task EnsurePackagesAsync()
    {
        await NpmPackages.EnsureAsync(Client, [Path.Combine("dist", "index.js")], script: "build");
        await NpmPackages.EnsureAsync(App, [Path.Combine("node_modules", "playwright-core")]);
    }
}
