using Microsoft.AspNetCore.SignalR;

namespace Relay.Bench.SignalRRelay;

/// <summary>
/// The relay as a SignalR hub: a new connection first receives every patch so far, then each new patch that
/// another connection sends; nothing is sent back to its sender.
/// </summary>
/// <remarks>
/// Race-free join: a patch is appended to the log and broadcast to the live group under <see cref="PatchLog.Gate"/>,
/// and a joiner enters the live group under the same gate, right after it was sent the last patches of the log.
/// So each patch is either in the log before the joiner's last catch-up step (sent to it from the log, in log
/// order) or appended after it joined (sent to it by the broadcast), never both and never neither; and since
/// every send to a connection is awaited before the next one starts, they reach it in log order. The bulk of a
/// long history is sent outside the gate (senders keep going meanwhile); only the tail, once it is short, is
/// sent while holding it. A connection is in <c>Clients.All</c> before <see cref="OnConnectedAsync"/> runs,
/// which is why live patches go to the group and not to <c>Clients.Others</c>.
/// </remarks>
public sealed class RelayHub(PatchLog log) : Hub
{
    /// <summary>Where the hub is mapped.</summary>
    public const string Path = "/relay";

    /// <summary>The client method that receives a patch.</summary>
    public const string PatchMethod = "patch";

    /// <summary>The hub method a client sends a patch with.</summary>
    public const string SendMethod = nameof(Send);

    private const string LiveGroup = "live";

    // A catch-up tail this short is sent while holding the gate; after this many rounds the rest is, whatever its
    // length, so a joiner that cannot keep up with the senders still joins.
    private const int ShortTail = 256;
    private const int MaxCatchUpRounds = 8;

    /// <inheritdoc />
    public override async Task OnConnectedAsync()
    {
        var aborted = Context.ConnectionAborted;
        var sent = 0;
        for (var round = 1; ; round++)
        {
            string[] pending;
            await log.Gate.WaitAsync(aborted);
            try
            {
                pending = log.CopyFrom(sent);
                if (pending.Length <= ShortTail || round == MaxCatchUpRounds)
                {
                    await SendToCallerAsync(pending, aborted);
                    await Groups.AddToGroupAsync(Context.ConnectionId, LiveGroup, aborted);
                    return;
                }
            }
            finally
            {
                log.Gate.Release();
            }

            await SendToCallerAsync(pending, aborted);
            sent += pending.Length;
        }
    }

    /// <summary>Appends <paramref name="patch"/> to the log and relays it to every other joined connection.</summary>
    public async Task Send(string patch)
    {
        await log.Gate.WaitAsync(Context.ConnectionAborted);
        try
        {
            log.Append(patch);

            // Not cancelled when the sender leaves: once in the log, a patch goes to everyone.
            await Clients.OthersInGroup(LiveGroup).SendAsync(PatchMethod, patch);
        }
        finally
        {
            log.Gate.Release();
        }
    }

    private async Task SendToCallerAsync(string[] patches, CancellationToken cancellationToken)
    {
        foreach (var patch in patches)
        {
            await Clients.Caller.SendAsync(PatchMethod, patch, cancellationToken);
        }
    }
}
