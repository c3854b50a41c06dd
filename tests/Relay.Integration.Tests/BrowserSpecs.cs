using System.Text.Json;
using Relay.Testing;
using Xunit.Abstractions;

namespace Relay.Integration.Tests;

/// <summary>
/// Issue 2's browser check: pages that send Immer patches through the standard browser WebSocket stay in sync
/// with each other and with a page opened later. Headless Chromium, driven by <c>browser/sync-check.mjs</c>.
/// </summary>
public sealed class BrowserSpecs
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string BrowserFolder = Path.Combine(RepoPaths.Root, "tests", "Relay.Integration.Tests", "browser");
    private readonly ITestOutputHelper _output;

    public BrowserSpecs(ITestOutputHelper output) => _output = output;

    [Fact]
    public async Task Should_keep_browser_pages_sending_Immer_patches_in_sync_with_each_other_and_a_later_page()
    {
        Assert.True(
            File.Exists(Environment.GetEnvironmentVariable("CHROMIUM") ?? Chromium),
            $"Chromium is not installed at {Chromium}: run `apt-get install -y chromium` (or set CHROMIUM to a Chromium binary).");
        if (!Directory.Exists(Path.Combine(BrowserFolder, "node_modules", "playwright-core")) ||
            !Directory.Exists(Path.Combine(BrowserFolder, "node_modules", "immer")))
        {
            var (code, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(3));
            Assert.True(code == 0, $"npm ci in {BrowserFolder} failed with {code}:\n{output}");
        }

        await using var node = RelayNode.Sqlite("browser");
        await node.StartAsync();

        var (exitCode, stdout) = await RunAsync("node", ["sync-check.mjs", node.WebSocketUrl.ToString()], TimeSpan.FromMinutes(2));
        _output.WriteLine(stdout);
        var lastLine = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(exitCode == 0 && lastLine.StartsWith('{'), $"sync-check.mjs exited with {exitCode}:\n{stdout}\n{node.Output}");

        using var result = JsonDocument.Parse(lastLine);
        var pages = result.RootElement.GetProperty("pages");
        var page1 = pages.GetProperty("page1");
        var page2 = pages.GetProperty("page2");
        var page3 = pages.GetProperty("page3");
        var state = page1.GetProperty("state").GetRawText();
        Assert.Equal(state, page2.GetProperty("state").GetRawText());
        Assert.Equal(state, page3.GetProperty("state").GetRawText());

        var shown = page1.GetProperty("state");
        Assert.Equal("done", shown.GetProperty("title").GetString());
        Assert.Equal(10, shown.GetProperty("items").GetArrayLength());
        Assert.Equal("edited by page1", shown.GetProperty("items")[0].GetProperty("text").GetString());
        Assert.Equal("zäh 🚀 1", shown.GetProperty("items")[1].GetProperty("text").GetString());
        Assert.Equal(80, shown.GetProperty("notes").EnumerateObject().Count());

        // The late page built the state from history alone: every patch of both pages, none twice.
        Assert.Equal(
            page1.GetProperty("applied").GetInt32() + page2.GetProperty("applied").GetInt32(),
            page3.GetProperty("applied").GetInt32());
        foreach (var page in new[] { page1, page2, page3 })
        {
            Assert.Equal(0, page.GetProperty("errors").GetArrayLength());
        }

        Assert.Equal(0, result.RootElement.GetProperty("consoleErrors").GetArrayLength());
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] arguments, TimeSpan timeout)
    {
        var result = await ProcessRunner.RunAsync(file, arguments, timeout, BrowserFolder);
        return (result.ExitCode, result.TimedOut ? $"{file} did not finish within {timeout}:\n{result.Output}" : result.StandardOutput + result.StandardError);
    }
}
