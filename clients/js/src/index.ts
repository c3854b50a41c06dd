export {
  connect,
  type ConnectOptions,
  type JoinInfo,
  type PatchInfo,
  type RestoredOutbox,
  type Protocol,
  type RelayClient,
  type Status,
  type StopInfo,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export {
  ClientState,
  decodeFrame,
  encodeBroadcast,
  encodePatch,
  encodePresence,
  PING_FRAME,
  type Payload,
  type PresenceEntry,
  type PresenceLimits,
  type PresenceState,
  type Sender,
  type ServerFrame,
} from "./protocol.js";
export { OwnPresence, PresenceList, type PresenceChange } from "./presence.js";
export { indexedDbStorage, memoryStorage, type Outbox, type OutboxStorage, type StoredClient, type StoredPatch } from "./storage.js";
