import { CloseCode, closeSaysIdReused } from "./closeCodes.js";
import { OwnPresence, PresenceList, type PresenceChange } from "./presence.js";
import {
  ClientState,
  decodeFrame,
  encodeBroadcast,
  PING_FRAME,
  type Payload,
  type PresenceEntry,
  type PresenceLimits,
  type PresenceState,
  type Sender,
  type ServerFrame,
} from "./protocol.js";
import { ReconnectingSocket, type ReconnectOptions, type Status, type StopInfo, type WebSocketLike } from "./socket.js";
import { indexedDbStorage, type Outbox, type OutboxStorage, type StoredClient } from "./storage.js";

export type { Status, StopInfo, WebSocketConstructor, WebSocketLike } from "./socket.js";

/** Which protocol the server chose: `relay.v1`, or `raw` frames (the original relay, or an older Relay). */
export type Protocol = "relay.v1" | "raw";

/** What a (re)connection joined: `resumed` after what the client held, or `reset`: the app must rebuild. */
export interface JoinInfo {
  protocol: Protocol;
  /** The server resumed right after the last sequence number the client held. Always false for raw frames. */
  resumed: boolean;
  /** The client had state and the server starts over (a new epoch, a raw replay): drop state and rebuild from what follows. */
  reset: boolean;
  /** The history's epoch (relay.v1), else null. */
  epoch: string | null;
  /** The last sequence number in the history when the connection joined (relay.v1), else null. */
  head: number | null;
}

/** A patch in the document's order, as the client receives it. */
export interface PatchInfo {
  /** Its sequence number (relay.v1); 0 for raw frames. */
  seq: number;
  /** One of this client's own patches, now in the order (its ack), or written on a raw socket. */
  own: boolean;
  /** For an own patch sent with a tag (`send(payload, tag)`), that tag. */
  tag?: string;
}

/** What a persisting client continued from, before its first connection (ConnectOptions.onRestore). */
export interface RestoredOutbox {
  clientId: string;
  /** Its unacknowledged patches, oldest first: they go out, with their ids, once the connection is back. */
  pending: Payload[];
  /** Their tags, in the same order (undefined for a patch sent without one). */
  tags: (string | undefined)[];
  /** The state stored with the last sequence number (ConnectOptions.stateToStore), if any. */
  state: unknown;
  epoch: string | null;
  lastSeq: number;
}

/** connect()'s options; the reconnecting ones (WebSocket, minDelay, maxDelay, stableAfter, maxRefusals) are the socket's. */
export interface ConnectOptions extends ReconnectOptions {
  /**
   * The client's name, the same across its reconnects (1-64 of A-Z a-z 0-9 _ -). Default: 32 random hex digits.
   * A name the server already holds patches under that this client did not write (a page reloaded with the name it
   * kept, another tab with the same name) is given up for a new one: see onClientId.
   */
  clientId?: string;
  /**
   * The client took a new name, and why: its name was in use by another writer (or by this page before a reload).
   * Its unacknowledged patches go out under the new name, and the next join rebuilds the state (`reset`), so nothing
   * is lost. Store the new name if you store names.
   */
  onClientId?: (clientId: string, reason: string) => void;
  /** Most patches held unacknowledged (queued offline or in flight); `send` refuses more. Default 1000. */
  maxPending?: number;
  /** Most payload bytes held unacknowledged; `send` refuses more. Default 4 MiB. */
  maxPendingBytes?: number;
  /** Own acknowledged patches kept in memory to rebuild after a reset. Default 10,000. */
  retainAcked?: number;
  /**
   * A server that selected relay.v1 but sends no hello within this many ms is taken for a raw relay that echoes
   * the subprotocol (the `ws` package's servers do) and has no history yet. Default 10,000.
   */
  helloTimeout?: number;
  /**
   * `connecting` first, in a microtask after connect() returns (or just before another status, if close() comes
   * sooner), then every change. `open` once the connection has joined: the hello arrived, or raw frames were chosen.
   */
  onStatus?: (status: Status) => void;
  onJoin?: (join: JoinInfo) => void;
  onPatch?: (payload: Payload, info: PatchInfo) => void;
  onStop?: (stop: StopInfo) => void;
  /**
   * The document's other present clients (not this connection), whenever the list changes: an entry joined, was
   * updated or left, or the whole list was replaced (`resync`: the server's full list after a join or a dropped
   * frame, or an empty list when the connection is lost or a new one starts). See README "Presence and broadcasts".
   */
  onPresence?: (others: PresenceEntry[], change: PresenceChange) => void;
  /** Another client's broadcast, as it sent it (text or bytes), and who sent it. */
  onBroadcast?: (payload: Payload, from: Sender) => void;
  /**
   * Keeps the outbox across page loads (README "Surviving a closed tab"): `"indexeddb"` in a browser, or an
   * OutboxStorage (`memoryStorage()`, or the app's own). Off by default: the outbox lives in memory.
   */
  persist?: "indexeddb" | OutboxStorage;
  /**
   * With persist: the app's state as of the last patch it was handed (its patches in order, without its own
   * unacknowledged ones), stored with the last sequence number. Called when the client saves. useRelayState sets it.
   */
  stateToStore?: () => unknown;
  /** With persist: what the client continues from, once loaded and before its first connection. */
  onRestore?: (restored: RestoredOutbox) => void;
}

/** A live client: send patches, read its state, close it. */
export interface RelayClient {
  /**
   * Queues a patch and writes it when open. False when the pending limits are reached: the patch is not taken.
   * With persist, the patch is in storage before it is written to the socket. A `tag` comes back with its ack
   * (PatchInfo.tag) and is stored with it.
   */
  send(payload: Payload, tag?: string): boolean;
  /**
   * Sets this client's presence state, a JSON object replaced as a whole (null clears it: the client leaves the
   * others' lists). Kept across reconnects: each new connection announces it again. Updates go out at most at the
   * server's maxUpdatesPerSecond, the latest winning. False when the state is over the server's maxStateBytes (it
   * is not taken). On a server with presence off (or raw frames) it is kept and never sent.
   */
  setPresence(state: PresenceState | null): boolean;
  /**
   * Sends `payload` to the document's other relay.v1 clients connected now: not journaled, not numbered, not kept
   * for anyone who joins later, at most once. False (nothing sent) while not joined, and on a server with presence
   * off. Counts against the server's message size and rate limits like a patch.
   */
  broadcast(payload: Payload): boolean;
  /** The document's other present clients, as the last onPresence said. */
  readonly others: PresenceEntry[];
  /** This connection's presence id (the hello's `client`), while joined to a server with presence on; else null. */
  readonly presenceId: string | null;
  /** The current connection's presence limits; null while not joined, on raw frames, or with presence off. */
  readonly presenceLimits: PresenceLimits | null;
  /** Closes the socket and stops retrying. Closed in the same task as connect(), the client opens no socket at all. */
  close(): void;
  /** `connecting` from the start, until the first join; see ConnectOptions.onStatus. */
  readonly status: Status;
  /** The protocol of the current or last connection. */
  readonly protocol: Protocol | null;
  /** The client's current name; it changes only when the name turned out to be in use (see onClientId). */
  readonly clientId: string;
  /** The last sequence number held (relay.v1). */
  readonly lastSeq: number;
  readonly epoch: string | null;
  /** Patches not acknowledged yet (relay.v1) or not written yet (raw). */
  readonly pending: number;
  /** With persist: pending patches not in storage yet (their save is under way); 0 without persist. */
  readonly unsaved: number;
}


const SUBPROTOCOL = "relay.v1";

export function randomId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The document a URL names, as storage keys it: the address without its query. */
export function documentOf(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** A patch frame's payload, without its header line: what a raw relay gets. */
function payloadOf(frame: string | Uint8Array): Payload {
  return typeof frame === "string" ? frame.slice(frame.indexOf("\n") + 1) : frame.slice(frame.indexOf(0x0a) + 1);
}

/**
 * Connects to a Relay document at `url` (`ws://host:5001/gifts/family-2026`) with relay.v1, falling back to raw
 * frames when the server does not speak it. It reconnects until closed or refused; see the package README.
 * The relay.v1 session lives here (the hello, acks, resume, resends); socket.ts reconnects the socket under it.
 */
export function connect(url: string, options: ConnectOptions = {}): RelayClient {
  let clientId = options.clientId ?? randomId();
  const storage = options.persist === "indexeddb" ? indexedDbStorage() : options.persist;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(clientId)) throw new Error("clientId must be 1 to 64 of A-Z a-z 0-9 _ -");
  const helloTimeout = options.helloTimeout ?? 10_000;
  const state = new ClientState({
    maxPending: options.maxPending ?? 1000,
    maxPendingBytes: options.maxPendingBytes ?? 4 * 1024 * 1024,
    retainAcked: options.retainAcked ?? 10_000,
  });

  let status: Status = "connecting";
  let protocol: Protocol | null = null;
  let rawOnly = false;
  let helloTimer: ReturnType<typeof setTimeout> | undefined;
  let joinedOnce = false;
  /** A hello arrived once from this URL: the server speaks relay.v1, so it is never taken for a raw relay. */
  let spokeV1 = false;
  /** The current connection has joined (its hello, or a raw socket's open): patches may be written. */
  let joined = false;

  /** The first `connecting` went to onStatus: every status the app hears follows it, in order. */
  let announced = false;
  const announce = () => {
    if (announced) return;
    announced = true;
    options.onStatus?.("connecting");
  };
  const setStatus = (next: Status) => {
    if (status === next) return;
    announce();
    status = next;
    options.onStatus?.(next);
  };

  // Persistence: the claim on a stored record, the highest id a finished save holds (the socket carries no patch
  // beyond it), and the save under way. A save after a rename counts only for the numbering it stored.
  let outbox: Outbox | null = null;
  let durableThrough = storage ? 0 : Number.POSITIVE_INFINITY;
  let saving = false;
  /** A save is wanted as soon as the one under way is done (a new patch, a new numbering), or a little later. */
  let saveAgain = false;
  let saveLater = false;
  let saveQueued = false;
  let numbering = 0;
  let releaseAfterSave = false;
  let laterTimer: ReturnType<typeof setTimeout> | undefined;
  let rejected = false;
  const record = (): StoredClient => {
    const stored: StoredClient = { clientId, ...state.stored() };
    if (rejected) stored.pending = [];
    if (stored.epoch !== null && options.stateToStore) stored.state = options.stateToStore();
    return stored;
  };
  const save = () => {
    clearTimeout(laterTimer);
    laterTimer = undefined;
    saveLater = false;
    if (!outbox) return;
    if (saving) {
      saveAgain = true;
      return;
    }
    saving = true;
    saveAgain = false;
    const box = outbox;
    const stored = record();
    const through = stored.nextId - 1;
    const saved = numbering;
    box.save(stored).then(
      () => {
        saving = false;
        if (saved === numbering && through > durableThrough) {
          durableThrough = through;
          const s = socket.open;
          if (s && joined) writeUnsent(s);
        }
        if (saveAgain) save();
        else if (releaseAfterSave) box.release();
        else if (saveLater) saveSoon();
      },
      () => {
        // Storage failed (full, or gone): the client goes on in memory, rather than hold its patches back.
        saving = false;
        outbox = null;
        box.release();
        durableThrough = Number.POSITIVE_INFINITY;
        const s = socket.open;
        if (s && joined) writeUnsent(s);
      },
    );
  };
  /** A new patch or a new numbering: stored before it is written, so at once. */
  const saveNow = () => {
    if (!outbox) return;
    if (saving) {
      saveAgain = true;
      return;
    }
    if (saveQueued) return;
    saveQueued = true;
    queueMicrotask(() => {
      saveQueued = false;
      save();
    });
  };
  /** What came in (acks, patches, a join): a save soon covers it; a page closed first resumes from the last one. */
  const saveSoon = () => {
    if (!outbox) return;
    if (saving) {
      saveLater = true;
      return;
    }
    if (!saveQueued && laterTimer === undefined) laterTimer = setTimeout(save, 200);
  };

  // Presence: the others as the server said, this client's own state, and the timers that send it (at most at
  // maxUpdatesPerSecond) and hold its lease (a ping when nothing else went out for a third of the timeout).
  const others = new PresenceList();
  const mine = new OwnPresence();
  let presenceId: string | null = null;
  let presenceTimer: ReturnType<typeof setTimeout> | undefined;
  let pingTimer: ReturnType<typeof setInterval> | undefined;
  /** A frame went out since the last ping tick: the lease is held without a ping. */
  let wrote = false;
  const write = (s: WebSocketLike, frame: string | Uint8Array) => {
    s.send(frame);
    wrote = true;
  };
  const reportOthers = (change: PresenceChange | null) => {
    if (change) options.onPresence?.(others.list, change);
  };
  const sendPresence = () => {
    clearTimeout(presenceTimer);
    presenceTimer = undefined;
    const s = socket.open;
    if (!s || !joined) return;
    const due = mine.due(Date.now());
    if (due === null) return;
    if ("wait" in due) presenceTimer = setTimeout(sendPresence, due.wait);
    else write(s, due.frame);
  };
  /** A relay.v1 connection joined: it holds nothing of this client's presence, and nobody is known to be there. */
  const joinPresence = (frame: Extract<ServerFrame, { type: "hello" }>) => {
    presenceId = frame.presence ? (frame.client ?? null) : null;
    mine.joined(frame.presence ?? null);
    reportOthers(others.clear());
    clearInterval(pingTimer);
    const every = mine.pingInterval();
    if (every !== null) {
      wrote = false;
      pingTimer = setInterval(() => {
        const s = socket.open;
        if (s && mine.present && !wrote) write(s, PING_FRAME);
        wrote = false;
      }, every);
    }
    sendPresence();
  };
  /** The connection is gone (or the client stopped): what others showed is no longer known. */
  const leavePresence = () => {
    clearTimeout(presenceTimer);
    presenceTimer = undefined;
    clearInterval(pingTimer);
    pingTimer = undefined;
    presenceId = null;
    mine.left();
    reportOthers(others.clear());
  };

  const writeUnsent = (s: WebSocketLike) => {
    const frames = state.takeUnsent(durableThrough);
    if (protocol !== "raw") {
      for (const frame of frames) write(s, frame);
      return;
    }
    // The raw fallback writes payloads as they are. Raw frames have no acks: what is written is in the order as
    // far as this client can know.
    const written = frames.map(payloadOf);
    for (const payload of written) s.send(payload);
    for (const payload of written) options.onPatch?.(payload, { seq: 0, own: true });
    state.dropWritten();
  };

  /** Raw frames on this socket, and on every later one: no hello to wait for, no ids, no resume. */
  const becomeRaw = (s: WebSocketLike, first?: Payload) => {
    clearTimeout(helloTimer);
    rawOnly = true;
    protocol = "raw";
    // The server replays its whole history to every connection, so a reconnect is a reset.
    options.onJoin?.({ protocol, resumed: false, reset: joinedOnce, epoch: null, head: null });
    joinedOnce = joined = true;
    setStatus("open");
    if (first !== undefined) options.onPatch?.(first, { seq: 0, own: false });
    writeUnsent(s);
  };

  /** Gives up a name another writer uses: a new one, the pending patches renumbered, a full join on a new socket. */
  const rename = (s: WebSocketLike | null, reason: string) => {
    clientId = randomId();
    state.startOverUnderNewName();
    if (outbox) {
      numbering++;
      durableThrough = 0;
      saveNow();
    }
    options.onClientId?.(clientId, reason);
    if (s) {
      // What the old name's socket still delivers until it closes is not this client's any more.
      retired = s;
      s.close(CloseCode.ClientIdInUse, "client id in use");
    }
  };
  let retired: WebSocketLike | null = null;

  const receive = (data: string | Uint8Array, s: WebSocketLike) => {
    if (s === retired) return;
    if (protocol === "raw") {
      options.onPatch?.(data, { seq: 0, own: false });
      return;
    }
    let frame: ServerFrame | null = null;
    try {
      frame = decodeFrame(data);
    } catch {
      frame = null;
    }
    if (!joined && frame?.type !== "hello" && !spokeV1) {
      // A server that echoes the subprotocol without speaking it (the ws package selects the first one offered):
      // its first frame is a patch of its history, not a hello. Raw frames from here on.
      becomeRaw(s, data);
      return;
    }
    if (frame === null || (!joined && frame.type !== "hello")) {
      // Not what this relay.v1 server sends; start over on a new connection rather than guess.
      s.close(CloseCode.UnexpectedFrame, "unexpected frame");
      return;
    }
    if (frame.type === "present" || frame.type === "presence") {
      reportOthers(others.apply(frame));
      return;
    }
    if (frame.type === "broadcast") {
      options.onBroadcast?.(frame.payload, { client: frame.client, user: frame.user });
      return;
    }
    const delivery = state.receive(frame);
    if (delivery.kind !== "none") saveSoon();
    if (delivery.kind === "shared") {
      rename(s, delivery.detail);
      return;
    }
    if (delivery.kind === "join") {
      clearTimeout(helloTimer);
      spokeV1 = true;
      options.onJoin?.({ protocol: "relay.v1", resumed: delivery.resumed, reset: delivery.reset, epoch: delivery.epoch, head: delivery.head });
      joinedOnce = joined = true;
      setStatus("open");
      // Unacknowledged patches first, oldest first, with their ids; new ones follow as they come. Then this
      // client's presence, announced again on every connection.
      writeUnsent(s);
      if (frame.type === "hello") joinPresence(frame);
    } else if (delivery.kind === "patch") {
      const info: PatchInfo = { seq: delivery.seq, own: delivery.own };
      if (delivery.tag !== undefined) info.tag = delivery.tag;
      options.onPatch?.(delivery.payload, info);
    }
  };

  const socket = new ReconnectingSocket(options, {
    target: () => {
      const resume = rawOnly ? null : state.resumeQuery();
      const target = new URL(url);
      if (!rawOnly) {
        target.searchParams.set("client", clientId);
        if (resume) {
          target.searchParams.set("after", String(resume.after));
          target.searchParams.set("epoch", resume.epoch);
        }
      }
      state.connecting(resume !== null);
      joined = false;
      return rawOnly ? { url: target.toString() } : { url: target.toString(), protocols: [SUBPROTOCOL] };
    },
    onConnecting: () => setStatus("connecting"),
    // A socket that is open has not joined yet: the status stays `connecting` until the hello (or raw frames).
    onOpen: (s) => {
      if (s.protocol !== SUBPROTOCOL) {
        becomeRaw(s);
        return;
      }
      protocol = "relay.v1";
      // A server that said relay.v1 but sends nothing may be a raw relay with an empty history; one that sent a
      // hello before is slow, and is waited for (resending as raw frames could journal a patch twice).
      if (!spokeV1) {
        helloTimer = setTimeout(() => {
          if (socket.current === s && !joined) becomeRaw(s);
        }, helloTimeout);
      }
    },
    onMessage: receive,
    onClose: (code, reason) => {
      clearTimeout(helloTimer);
      leavePresence();
      // The server found one of this client's ids journaled with another patch: another writer uses the name.
      if (closeSaysIdReused(code, reason)) rename(null, reason);
    },
    onNoSubprotocol: () => {
      // The ws package fails a handshake whose answer names no subprotocol; a browser opens it and shows "".
      if (rawOnly) return false;
      rawOnly = true;
      return true;
    },
    onStop: (stop) => {
      clearTimeout(helloTimer);
      leavePresence();
      // Refused patches stay refused (1009, frames the server does not accept): a page reopened would send them
      // only to stop again, so the stored outbox lets them go (client.pending still counts them here).
      if (stop.reason === "rejected") rejected = true;
      // A last save of what it holds (a save under way finishes first), then the record is free for a later page.
      if (outbox) {
        releaseAfterSave = true;
        save();
      }
      setStatus("closed");
      options.onStop?.(stop);
    },
  });
  // The first socket opens in a microtask, so that a close() in the same task opens none: React StrictMode's
  // effect, cleanup and effect again leave one connection and no socket closed before it was established. The
  // first `connecting` waits as long, so that onStatus can read the client connect() returned.
  // With persist, the stored outbox is claimed and loaded first: the first connection resumes it.
  queueMicrotask(() => {
    announce();
    // Closed in the task that connected it (React StrictMode's first effect): no claim, which could make the
    // client connected next pass the stored outbox by.
    if (status === "closed") return;
    if (!storage) {
      socket.start();
      return;
    }
    const asked = options.clientId ?? null;
    storage.open(documentOf(url), { clientId: asked, newId: randomId }).then(
      (box) => {
        if (status === "closed") {
          box.release();
          return;
        }
        outbox = box;
        const stored = box.stored;
        const previous = clientId;
        clientId = stored.clientId;
        state.restore(stored);
        durableThrough = stored.nextId - 1;
        if (asked !== null && clientId !== previous) {
          options.onClientId?.(clientId, `continues the stored outbox of a closed page, or ${asked} is in use by another live page`);
        }
        options.onRestore?.({
          clientId,
          pending: stored.pending.map((p) => p.payload),
          tags: stored.pending.map((p) => p.tag),
          state: stored.epoch === null ? undefined : stored.state,
          epoch: stored.epoch,
          lastSeq: stored.lastSeq,
        });
        if (state.pendingAbove(durableThrough) > 0) saveNow();
        socket.start();
      },
      () => {
        // No storage here (no IndexedDB, no Web Locks): the outbox lives in memory, as without persist.
        durableThrough = Number.POSITIVE_INFINITY;
        socket.start();
      },
    );
  });

  return {
    send(payload: Payload, tag?: string): boolean {
      if (status === "closed") return false;
      if (!state.add(payload, tag)) return false;
      if (outbox) saveNow();
      const s = socket.open;
      if (s && joined) writeUnsent(s);
      return true;
    },
    setPresence(next: PresenceState | null): boolean {
      if (!mine.set(next)) return false;
      sendPresence();
      return true;
    },
    broadcast(payload: Payload): boolean {
      const s = socket.open;
      if (!s || !joined || protocol !== "relay.v1" || mine.serverLimits === null) return false;
      write(s, encodeBroadcast(payload));
      return true;
    },
    get others() {
      return others.list;
    },
    get presenceId() {
      return presenceId;
    },
    get presenceLimits() {
      return mine.serverLimits;
    },
    close() {
      socket.stop({ reason: "closed", detail: "closed by the app" });
    },
    get status() {
      return status;
    },
    get protocol() {
      return protocol;
    },
    get clientId() {
      return clientId;
    },
    get lastSeq() {
      return state.lastSeq;
    },
    get epoch() {
      return state.epoch;
    },
    get pending() {
      return state.pendingCount;
    },
    get unsaved() {
      return outbox ? state.pendingAbove(durableThrough) : 0;
    },
  };
}
