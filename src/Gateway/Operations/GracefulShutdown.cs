using Relay.Gateway.Sockets;

namespace Relay.Gateway.Operations;

/// <summary>
/// On SIGTERM the host first signals <c>ApplicationStopping</c>: the gate refuses new upgrades and every socket
/// is asked to close with 1001. This service, registered after the actor system so that it stops before it,
/// then waits (bounded) for those sockets to finish, so that the clients' last frames reach the sequencer
/// before the node leaves the cluster through CoordinatedShutdown.
/// </summary>
public sealed class GracefulShutdown : IHostedService
{
    /// <summary>How long the sockets get to close; a client that does not read is aborted by its session well before.</summary>
    public static readonly TimeSpan SocketDrainTimeout = TimeSpan.FromSeconds(6);

    private readonly SocketSessions _sessions;
    private readonly ILogger<GracefulShutdown> _logger;

    /// <summary>Creates the service.</summary>
    public GracefulShutdown(SocketSessions sessions, ILogger<GracefulShutdown> logger)
    {
        _sessions = sessions;
        _logger = logger;
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var open = _sessions.Count;
        if (open == 0)
        {
            return;
        }

        _logger.LogInformation("Shutting down: waiting for {Count} sockets to close", open);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SocketDrainTimeout);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            while (_sessions.Count > 0 && await poll.WaitForNextTickAsync(timeout.Token))
            {
            }
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Shutting down with {Count} sockets still open after {Timeout}", _sessions.Count, SocketDrainTimeout);
        }
    }
}
