using Relay.Actors.Hosting;

namespace Relay.Gateway.Operations;

/// <summary>
/// The Gateway's own settings: what a node takes of its clients' sockets. Bound from the <c>Relay</c> section like
/// <see cref="RelayOptions"/> (the keys are <c>Relay:MaxConnections</c> and so on), which keeps the cluster's.
/// </summary>
public sealed class GatewayOptions
{
    /// <summary>Open sockets this node takes; beyond, new upgrades get 503 while open sockets carry on. 0: no limit.</summary>
    public int MaxConnections { get; set; }

    /// <summary>Messages one client may send per second (a token bucket as deep as one second's worth); beyond, it is closed with 1008. 0: no limit.</summary>
    public int MaxMessagesPerSecond { get; set; }

    /// <summary>
    /// Payload bytes one client may send per second, counted as they arrive (fragments included), as a token
    /// bucket as deep as one second's worth; beyond, it is closed with 1008. 0: no limit; else at least
    /// <c>Relay:MaxMessageBytes</c>, so that a message of the largest size can pass.
    /// </summary>
    public int MaxBytesPerSecond { get; set; }

    /// <summary>Seconds from the first frame of a client's message to its last; a message still unfinished then closes the socket with 1008.</summary>
    public int MessageTimeoutSeconds { get; set; } = 10;

    /// <summary>Frames one client message may span; one more closes the socket with 1009.</summary>
    public int MaxFragmentsPerMessage { get; set; } = 1024;

    /// <summary>Seconds between the pings the server sends each client.</summary>
    public int KeepAliveIntervalSeconds { get; set; } = 30;

    /// <summary>
    /// Seconds a client has to answer a ping before its connection is dropped as dead, so a half-open socket frees
    /// its slot within <see cref="KeepAliveIntervalSeconds"/> plus this. 0: never dropped for not answering.
    /// </summary>
    /// <remarks>
    /// Longer than <c>Relay:UnavailableAfterSeconds</c> by default: a socket that is not read because the journal is
    /// away (back-pressure) has its client's pong stuck behind its frames, and that client should get its 1013
    /// "try again later" rather than be dropped as dead first.
    /// </remarks>
    public int KeepAliveTimeoutSeconds { get; set; } = 40;

    /// <summary>
    /// Kestrel's <c>SocketTransportOptions.UnsafePreferInlineScheduling</c> (key <c>Relay:UnsafePreferInlineScheduling</c>):
    /// run the transport's pipe continuations (Kestrel's send loop after a flush, the application's reads after a
    /// receive) on the thread that completed them instead of queueing each to the thread pool. Off by default; any
    /// code that blocks on such a thread holds up the sockets behind it.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>Throws when a setting cannot work, alone or with the node's <paramref name="relay"/> settings.</summary>
    public void Validate(RelayOptions relay)
    {
        if (MaxConnections < 0 || MaxMessagesPerSecond < 0)
        {
            throw new InvalidOperationException("Relay:MaxConnections and Relay:MaxMessagesPerSecond must be 0 (no limit) or positive");
        }

        if (MaxBytesPerSecond != 0 && MaxBytesPerSecond < relay.MaxMessageBytes)
        {
            throw new InvalidOperationException("Relay:MaxBytesPerSecond must be 0 (no limit) or at least Relay:MaxMessageBytes");
        }

        if (MessageTimeoutSeconds < 1 || MaxFragmentsPerMessage < 1 || KeepAliveIntervalSeconds < 1)
        {
            throw new InvalidOperationException("Relay:MessageTimeoutSeconds, Relay:MaxFragmentsPerMessage and Relay:KeepAliveIntervalSeconds must be positive");
        }

        if (KeepAliveTimeoutSeconds < 0)
        {
            throw new InvalidOperationException("Relay:KeepAliveTimeoutSeconds must be 0 (off) or positive");
        }
    }
}
