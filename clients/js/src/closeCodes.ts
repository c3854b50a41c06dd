/**
 * The close codes the client sends and reads, and which answers of a server stop it for good: the one place that
 * says what a code means to this client (the server's side is docs/operations.md, "What Relay bounds, and how").
 */

/** WebSocket close codes (RFC 6455, section 7.4.1), and the client's own in the 4000-4999 range for applications. */
export const CloseCode = {
  /** The client closed on purpose (the app called close()). */
  Normal: 1000,
  /** The node is shutting down or lost a peer: retried. */
  GoingAway: 1001,
  /** A text frame that is not UTF-8: retried (a JavaScript string always encodes to valid UTF-8). */
  InvalidData: 1007,
  /** A policy of the server: a slow consumer or a rate limit (retried), or frames it cannot accept (final). */
  PolicyViolation: 1008,
  /** A message over the server's `Relay:MaxMessageBytes`: final, a resend would be the same message. */
  MessageTooBig: 1009,
  /** The server failed: retried. */
  InternalError: 1011,
  /** The history is unavailable for now: retried. */
  TryAgainLater: 1013,
  /** Sent by the client: the browser went offline, so it closes now rather than when the socket notices. */
  Offline: 4000,
  /** Sent by the client: a frame this relay.v1 server does not send; it starts over on a new connection. */
  UnexpectedFrame: 4001,
  /** Sent by the client: another writer uses its client id; it comes back under a new one. */
  ClientIdInUse: 4002,
} as const;

/** What a 1008 says when the server does not accept this client's frames (docs/protocol.md, "Client to server"). */
const REJECTED_FRAMES = ["patch ids must", "bad relay.v1 frame"];

/**
 * Whether a server's 1008 says another patch is journaled under this client's name and id (docs/protocol.md): the
 * name is shared with another writer, or its counter was lost. Not final: the client takes a new name.
 */
export function closeSaysIdReused(code: number, reason: string): boolean {
  return code === CloseCode.PolicyViolation && reason.startsWith("patch id reused");
}

/** Whether a server's close is final: a retry would send the same patches and get the same answer. */
export function closeIsFinal(code: number, reason: string): boolean {
  switch (code) {
    case CloseCode.MessageTooBig:
      return true;
    case CloseCode.PolicyViolation:
      return REJECTED_FRAMES.some((prefix) => reason.startsWith(prefix));
    default:
      return false;
  }
}

/** Whether an HTTP answer to the upgrade is final: the request itself is wrong (docs/protocol.md, step 4). */
export function refusalIsFinal(httpStatus: number): boolean {
  return httpStatus === 400 || httpStatus === 401 || httpStatus === 403;
}
