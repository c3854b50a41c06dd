#nullable enable
namespace Relay.Actors.Documents;

/// <summary>
/// How a batch of patches reaches the webhook receiver: the Gateway's side of webhooks (HTTP, signing), which the
/// node's webhook dispatcher calls one batch at a time, in order, until it succeeds.
/// </summary>
public interface IWebhookSender
{
    /// <summary>POSTs <paramref name="batch"/>; true once the receiver took it (a 2xx answer), false (or a fault) otherwise.</summary>
    Task<bool> SendAsync(IReadOnlyList<DocumentChange> batch, CancellationToken cancellation);
}
