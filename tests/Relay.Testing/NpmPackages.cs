using Xunit;

namespace Relay.Testing;

/// <summary>
/// The npm packages a check needs, installed with <c>npm ci</c> from the folder's committed lock file when they are
/// not there yet (scripts/test.sh installs them all before any test runs). npm ci empties <c>node_modules</c>
/// first, and test projects run side by side in separate processes, so an install holds an exclusive lock on
/// <c>relay-npm/FOLDER.lock</c> under the temp folder, and every process looks again once it holds the lock.
/// </summary>
public static class NpmPackages
{
    private static readonly string LockFolder = Path.Combine(Path.GetTempPath(), "relay-npm");
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Runs <c>npm ci</c> in <paramref name="folder"/> (then <c>npm run <paramref name="script"/></c>, if given)
    /// unless every path of <paramref name="installed"/>, relative to the folder, exists.
    /// </summary>
    public static async Task EnsureAsync(string folder, string[] installed, string? script = null)
    {
        bool Present() => installed.All(path => Path.Exists(Path.Combine(folder, path)));
        if (Present())
        {
            return;
        }

        await using var held = await LockAsync(folder);
        if (Present())
        {
            return;
        }

        await RunAsync(folder, "ci", "--no-audit", "--no-fund");
        if (script is not null)
        {
            await RunAsync(folder, "run", script);
        }
    }

    private static async Task RunAsync(string folder, params string[] arguments)
    {
        var run = await ProcessRunner.RunAsync("npm", arguments, InstallTimeout, folder);
        Assert.True(run.ExitCode == 0, $"npm {string.Join(' ', arguments)} in {folder} failed with {run.ExitCode}:\n{run.Output}");
    }

    // FileShare.None takes an exclusive advisory lock (flock) on Unix, also against another open in this process;
    // the kernel drops it when the process exits.
    private static async Task<FileStream> LockAsync(string folder)
    {
        Directory.CreateDirectory(LockFolder);
        var path = Path.Combine(LockFolder, Path.GetRelativePath(RepoPaths.Root, folder).Replace(Path.DirectorySeparatorChar, '-') + ".lock");
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < InstallTimeout)
            {
                await Task.Delay(200);
            }
        }
    }
}
