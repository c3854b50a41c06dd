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
export { ClientState, decodeFrame, encodePatch, type Payload, type ServerFrame } from "./protocol.js";
export { indexedDbStorage, memoryStorage, type Outbox, type OutboxStorage, type StoredClient, type StoredPatch } from "./storage.js";
