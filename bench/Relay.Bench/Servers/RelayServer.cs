using Relay.Testing;

namespace Relay.Bench.Servers;

/// <summary>The Relay Gateway as a real process on its own fresh SQLite journal (the test harness's <see cref="RelayNode"/>).</summary>
public sealed class RelayServer : IServerUnderTest
{
    private readonly RelayNode _node;
    private readonly string _folder;

    private RelayServer(RelayNode node, string folder)
    {
        _node = node;
        _folder = folder;
    }

    /// <inheritdoc />
    public string Name => "relay";

    /// <inheritdoc />
    public Uri Url => _node.WebSocketUrl;

    /// <inheritdoc />
    public IClientConnector Connector => new WebSocketConnector(_node.WebSocketUrl);

    /// <inheritdoc />
    public int ProcessId => _node.ProcessId ?? 0;

    /// <inheritdoc />
    public string Output => _node.Output;

    /// <inheritdoc />
    public bool IsRunning => _node.IsRunning;

    /// <summary>
    /// Starts a Gateway on a new journal, with <paramref name="extra"/> settings and the JIT it ships with (or
    /// tiered, <paramref name="shippedJit"/> false), and waits until it relays.
    /// </summary>
    public static async Task<RelayServer> StartAsync(IReadOnlyDictionary<string, string>? extra, bool shippedJit)
    {
        var folder = Path.Combine(Path.GetTempPath(), "relay-bench", "relay-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var settings = new Dictionary<string, string>
        {
            // Logging every connection at Information would cost the server time the reference does not spend.
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        var node = RelayNode.Sqlite("relay", Path.Combine(folder, "relay.db"), settings);
        node.ShippedJit = shippedJit;
        var server = new RelayServer(node, folder);
        try
        {
            await node.StartAsync(TimeSpan.FromSeconds(90));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp file is harmless.
        }
    }
}
