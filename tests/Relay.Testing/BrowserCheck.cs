using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace Relay.Testing;

/// <summary>
/// The browser end-to-end check: headless Chromium pages that edit one Immer state through the standard
/// browser WebSocket (<c>tests/browser/sync-check.mjs</c>). Two pages edit, a third opens later; all must end
/// in the same state, the late one built from history alone.
/// </summary>
public static class BrowserCheck
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "browser");
    private const int SnapshotCheckTurns = 2;

    /// <summary>
    /// Runs the pages against <paramref name="relays"/>: one URL for all three pages, or one per page (page1,
    /// page2, the late page3), and asserts that all three show the same state.
    /// </summary>
    public static Task AssertPagesStayInSyncAsync(ITestOutputHelper output, params Uri[] relays) =>
        AssertPagesStayInSyncAsync(output, lateFromSnapshot: false, relays);

    /// <summary>
    /// As <see cref="AssertPagesStayInSyncAsync(ITestOutputHelper, Uri[])"/>; with <paramref name="lateFromSnapshot"/>
    /// the late page must have been built from a compaction snapshot (one patch replacing the root, then the tail):
    /// it applied fewer patches than the other two sent, and still shows the same state.
    /// </summary>
    public static async Task AssertPagesStayInSyncAsync(ITestOutputHelper output, bool lateFromSnapshot, params Uri[] relays)
    {
        var chromium = Environment.GetEnvironmentVariable("CHROMIUM") ?? Chromium;
        Assert.True(File.Exists(chromium), $"Chromium is not installed at {chromium}: run `apt-get install -y chromium` (or set CHROMIUM).");
        await EnsurePackagesAsync();

        // The snapshot check needs no more turns than it takes to fill the list; the bursts make the bytes that snapshot.
        // The late page waits until its node serves joins from the snapshot (a condition, checked by a probe page).
        string[] turns = lateFromSnapshot ? ["--turns=" + SnapshotCheckTurns, "--late-from-snapshot"] : [];
        var run = await ProcessRunner.RunAsync("node", ["sync-check.mjs", .. turns, .. relays.Select(url => url.ToString())], TimeSpan.FromMinutes(2), Folder);
        output.WriteLine(run.Output);
        var lastLine = run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(run.ExitCode == 0 && lastLine.StartsWith('{'), $"sync-check.mjs exited with {run.ExitCode} (timed out: {run.TimedOut}):\n{run.Output}");

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
        Assert.Equal(lateFromSnapshot ? SnapshotCheckTurns : 10, shown.GetProperty("items").GetArrayLength());
        Assert.Equal("edited by page1", shown.GetProperty("items")[0].GetProperty("text").GetString());
        Assert.Equal("zäh 🚀 1", shown.GetProperty("items")[1].GetProperty("text").GetString());
        Assert.Equal(80, shown.GetProperty("notes").EnumerateObject().Count());

        var sent = page1.GetProperty("applied").GetInt32() + page2.GetProperty("applied").GetInt32();
        if (lateFromSnapshot)
        {
            // The late page started from a snapshot: the state in one patch, then the patches after it.
            Assert.InRange(page3.GetProperty("applied").GetInt32(), 1, sent - 1);
        }
        else
        {
            // The late page built the state from history alone: every patch of both pages, none twice.
            Assert.Equal(sent, page3.GetProperty("applied").GetInt32());
        }
        foreach (var page in new[] { page1, page2, page3 })
        {
            Assert.Equal(0, page.GetProperty("errors").GetArrayLength());
        }

        Assert.Equal(0, result.RootElement.GetProperty("consoleErrors").GetArrayLength());
    }

    /// <summary>The folder of the browser check's scripts and npm packages.</summary>
    public static string ScriptsFolder => Folder;

    /// <summary>Installs the pinned npm packages (<c>npm ci</c> from the committed lock file) unless they are there.</summary>
    public static Task EnsurePackagesAsync() =>
        NpmPackages.EnsureAsync(Folder, [Path.Combine("node_modules", "playwright-core"), Path.Combine("node_modules", "immer")]);
}
