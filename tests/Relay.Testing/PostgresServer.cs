using System.Text.RegularExpressions;
using Xunit;

namespace Relay.Testing;

/// <summary>
/// A throwaway PostgreSQL server for a test run, started with <c>scripts/postgres.sh</c> on a free loopback
/// port with its data in a temp folder, and deleted afterwards. Use it as a collection fixture and give each
/// test class its own database (<see cref="CreateDatabaseAsync"/>). Nothing is skipped: without Debian's
/// PostgreSQL server binaries the fixture fails with the script's message saying what to install.
/// </summary>
public sealed partial class PostgresServer : IAsyncLifetime
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Describes a server; nothing runs until <see cref="StartAsync"/>.</summary>
    public PostgresServer()
    {
        Port = FreePort.Next();
        Folder = RepoPaths.NewTempFolder("postgres");
    }

    /// <summary>The server's port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The folder that holds the data directory and the server's log.</summary>
    public string Folder { get; }

    /// <summary>The Npgsql connection string of the database <c>relay</c>.</summary>
    public string ConnectionString => ConnectionStringOf("relay");

    /// <summary>The server's log, for failure messages.</summary>
    public string Log
    {
        get
        {
            var path = Path.Combine(Folder, "postgres.log");
            try
            {
                return File.Exists(path) ? File.ReadAllText(path) : "(no log)";
            }
            catch (UnauthorizedAccessException)
            {
                return "(log not readable)";
            }
        }
    }

    /// <summary>The Npgsql connection string of <paramref name="database"/> on this server.</summary>
    public string ConnectionStringOf(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=relay;Password=relay;Database={database};Include Error Detail=true";

    /// <summary>Starts the server (initialising the data directory the first time) and creates the database <c>relay</c>.</summary>
    public Task StartAsync() => RunScriptAsync("start", Folder, Port.ToString());

    /// <summary>Stops the server cleanly; <see cref="StartAsync"/> brings it back with its data.</summary>
    public Task StopAsync() => RunScriptAsync("stop", Folder);

    /// <summary>SIGKILLs the server, as in a crash; <see cref="StartAsync"/> recovers it.</summary>
    public Task KillAsync() => RunScriptAsync("kill", Folder);

    /// <summary>
    /// Creates a fresh database named after <paramref name="prefix"/> plus a unique suffix and returns its
    /// connection string, so every test class starts from an empty journal.
    /// </summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        // At most 28 + 1 + 32 characters: PostgreSQL's identifiers end at 63.
        var name = $"{Sanitize(prefix)}_{Guid.NewGuid():N}";
        await RunScriptAsync("createdb", Folder, Port.ToString(), name);
        return ConnectionStringOf(name);
    }

    /// <inheritdoc />
    public Task InitializeAsync() => StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover temp folder is harmless; the next run uses a new one.
        }
    }

    private static string Sanitize(string prefix)
    {
        var name = NonIdentifier().Replace(prefix.ToLowerInvariant(), "_");
        name = name.Length > 28 ? name[..28] : name;
        return name.Length == 0 || char.IsDigit(name[0]) ? "db_" + name : name;
    }

    private static async Task<string> RunScriptAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "postgres.sh"), .. arguments], ScriptTimeout);
        if (result.TimedOut)
        {
            throw new TimeoutException($"scripts/postgres.sh {string.Join(' ', arguments)} did not finish within {ScriptTimeout}");
        }

        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"scripts/postgres.sh {string.Join(' ', arguments)} failed with exit code {result.ExitCode}:\n{result.StandardError}{result.StandardOutput}");
        }

        return result.StandardOutput;
    }

    [GeneratedRegex("[^a-z0-9_]")]
    private static partial Regex NonIdentifier();
}
