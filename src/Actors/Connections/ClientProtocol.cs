#nullable enable
namespace Relay.Actors.Connections;

/// <summary>
/// How one client speaks (docs/protocol.md): raw frames, as the original relay, or the <c>relay.v1</c> envelope,
/// with which a client may name itself and resume. Parsed by the Gateway from the upgrade request.
/// </summary>
/// <param name="Enveloped">Whether the client speaks <c>relay.v1</c>: a hello first, sequence numbers on patches, acknowledgements.</param>
/// <param name="ClientId">
/// The client's own name (<c>?client=</c>), kept across its reconnects: its patch ids are deduplicated under it.
/// Null: the connection is its own client.
/// </param>
/// <param name="ResumeAfter">The last sequence number the client holds (<c>?after=</c>); null: a full join.</param>
/// <param name="ResumeEpoch">The epoch <see cref="ResumeAfter"/> belongs to (<c>?epoch=</c>).</param>
public sealed record ClientProtocol(bool Enveloped, string? ClientId = null, long? ResumeAfter = null, long? ResumeEpoch = null)
{
    /// <summary>
    /// <c>relay.v1</c>: the connection's presence id (docs/protocol.md, "Who a client is"): its <see cref="ClientId"/>, or
    /// one the Gateway assigned. Null for raw clients, who take no part in presence.
    /// </summary>
    public string? PresenceId { get; init; }

    /// <summary><c>relay.v1</c>: who the client is, for presence (the token's <c>sub</c>, or <c>?user=</c>, or the presence id).</summary>
    public string? User { get; init; }

    /// <summary>The original relay's protocol: raw frames, no envelope.</summary>
    public static readonly ClientProtocol Raw = new(false);

    /// <summary>What a named client's identity starts with.</summary>
    public const string ClientOriginPrefix = "client/";

    /// <summary>The identity the client's patches are journaled and deduplicated under.</summary>
    public string OriginFor(string connectionId) => ClientId is null ? connectionId : ClientOriginPrefix + ClientId;

    /// <summary>Whether a join at <paramref name="head"/> of the history named <paramref name="epoch"/> can resume where the client left off.</summary>
    public bool CanResume(long head, long epoch) =>
        Enveloped && ResumeAfter is { } after && ResumeEpoch == epoch && after <= head;
}
