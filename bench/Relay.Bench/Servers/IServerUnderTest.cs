namespace Relay.Bench.Servers;

/// <summary>A relay process the bench starts fresh for one scenario and kills afterwards.</summary>
public interface IServerUnderTest : IAsyncDisposable
{
    /// <summary><c>relay</c>, <c>reference</c> or <c>signalr</c>, as printed in the results.</summary>
    string Name { get; }

    /// <summary>Where clients connect, on 127.0.0.1.</summary>
    Uri Url { get; }

    /// <summary>Opens the bench's clients on this server, in its protocol.</summary>
    IClientConnector Connector { get; }

    /// <summary>The server's process id, for its memory and CPU figures.</summary>
    int ProcessId { get; }

    /// <summary>What the process printed (tail), for failure reports.</summary>
    string Output { get; }

    /// <summary>Whether the process still runs.</summary>
    bool IsRunning { get; }
}

/// <summary>Which server a scenario runs against.</summary>
public enum ServerKind
{
    /// <summary>The Relay Gateway (one node, SQLite journal).</summary>
    Relay,

    /// <summary>The original Node.js relay, in memory.</summary>
    Reference,

    /// <summary>An ASP.NET Core SignalR hub relay, in memory (<c>bench/SignalRRelay</c>).</summary>
    SignalR,
}
