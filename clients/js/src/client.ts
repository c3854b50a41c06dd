import { ClientState, decodeFrame, type Payload, type ServerFrame } from "./protocol.js";

/** The connection's state: `connecting` (including waiting to retry), `open`, or `closed` for good. */
export type Status = "connecting" | "open" | "closed";

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
}

/** Why the client stopped for good. */
export interface StopInfo {
  /** `closed` (the app called close()), `refused` (HTTP 400/401/403, or the browser's repeated refusals), or `rejected` (a close code a retry cannot fix). */
  reason: "closed" | "refused" | "rejected";
  /** The HTTP status when known, else the WebSocket close code when there was one. */
  code?: number;
  detail: string;
}

/** The part of the WebSocket API the client uses: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ConnectOptions {
  /** The client's name, the same across its reconnects (1-64 of A-Z a-z 0-9 _ -). Default: 32 random hex digits. */
  clientId?: string;
  /** The WebSocket implementation; default `globalThis.WebSocket` (in Node 20, pass `ws`'s `WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** Most patches held unacknowledged (queued offline or in flight); `send` refuses more. Default 1000. */
  maxPending?: number;
  /** Most payload bytes held unacknowledged; `send` refuses more. Default 4 MiB. */
  maxPendingBytes?: number;
  /** Own acknowledged patches kept in memory to rebuild after a reset. Default 10,000. */
  retainAcked?: number;
  /** First retry delay in ms (doubled per failed attempt, jittered to 50-100%). Default 500. */
  minDelay?: number;
  /** Longest retry delay in ms. Default 20,000. */
  maxDelay?: number;
  /** A connection open this long (ms) resets the backoff. Default 60,000. */
  stableAfter?: number;
  /**
   * In a browser the HTTP status of a refused upgrade is hidden: after this many attempts in a row that closed
   * before opening while the server answered plain HTTP, the client stops as `refused`. Default 8.
   */
  maxRefusals?: number;
  /**
   * A server that selected relay.v1 but sends no hello within this many ms is taken for a raw relay that echoes
   * the subprotocol (the `ws` package's servers do) and has no history yet. Default 10,000.
   */
  helloTimeout?: number;
  onStatus?: (status: Status) => void;
  onJoin?: (join: JoinInfo) => void;
  onPatch?: (payload: Payload, info: PatchInfo) => void;
  onStop?: (stop: StopInfo) => void;
}

/** A live client: send patches, read its state, close it. */
export interface RelayClient {
  /** Queues a patch and writes it when open. False when the pending limits are reached: the patch is not taken. */
  send(payload: Payload): boolean;
  /** Closes the socket and stops retrying. */
  close(): void;
  readonly status: Status;
  /** The protocol of the current or last connection. */
  readonly protocol: Protocol | null;
  readonly clientId: string;
  /** The last sequence number held (relay.v1). */
  readonly lastSeq: number;
  readonly epoch: string | null;
  /** Patches not acknowledged yet (relay.v1) or not written yet (raw). */
  readonly pending: number;
}

const SUBPROTOCOL = "relay.v1";
const OPEN = 1;
/** HTTP answers to an upgrade that a retry cannot fix (docs/protocol.md). */
const FINAL_HTTP = new Set([400, 401, 403]);

function randomId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether a server close is final: a retry would send the same patches and get the same answer. */
function finalClose(code: number, reason: string): boolean {
  if (code === 1009) return true; // a patch over the server's size limit
  return code === 1008 && (reason.startsWith("patch ids must") || reason.startsWith("bad relay.v1 frame"));
}

/** The HTTP status in the `ws` package's handshake error ("Unexpected server response: 403"), if any. */
function statusOf(event: any): number | undefined {
  const text = String(event?.message ?? event?.error?.message ?? "");
  const match = /Unexpected server response: (\d{3})/.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** Whether a handshake error says the server chose no subprotocol (the `ws` package refuses such a server). */
function noSubprotocol(event: any): boolean {
  return /no subprotocol/i.test(String(event?.message ?? event?.error?.message ?? ""));
}

/** The document's plain HTTP address, to learn whether a server that refused an upgrade is there at all. */
function httpUrlOf(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  const token = u.searchParams.get("access_token");
  u.search = "";
  if (token !== null) u.searchParams.set("access_token", token);
  return u.toString();
}

/**
 * Connects to a Relay document at `url` (`ws://host:5001/gifts/family-2026`) with relay.v1, falling back to raw
 * frames when the server does not speak it. It reconnects until closed or refused; see the package README.
 */
export function connect(url: string, options: ConnectOptions = {}): RelayClient {
  const Socket = options.WebSocket ?? (globalThis as any).WebSocket;
  if (!Socket) throw new Error("no WebSocket: pass options.WebSocket (in Node 20, the `ws` package's WebSocket)");
  const clientId = options.clientId ?? randomId();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(clientId)) throw new Error("clientId must be 1 to 64 of A-Z a-z 0-9 _ -");
  const minDelay = options.minDelay ?? 500;
  const maxDelay = options.maxDelay ?? 20_000;
  const stableAfter = options.stableAfter ?? 60_000;
  const maxRefusals = options.maxRefusals ?? 8;
  const helloTimeout = options.helloTimeout ?? 10_000;
  const state = new ClientState({
    maxPending: options.maxPending ?? 1000,
    maxPendingBytes: options.maxPendingBytes ?? 4 * 1024 * 1024,
    retainAcked: options.retainAcked ?? 10_000,
  });

  let status: Status = "connecting";
  let protocol: Protocol | null = null;
  let rawOnly = false;
  let socket: WebSocketLike | null = null;
  let attempt = 0;
  let refusals = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;
  let helloTimer: ReturnType<typeof setTimeout> | undefined;
  let joinedOnce = false;
  /** A hello arrived once from this URL: the server speaks relay.v1, so it is never taken for a raw relay. */
  let spokeV1 = false;
  /** The current connection has joined (its hello, or a raw socket's open): patches may be written. */
  let joined = false;
  const win = (globalThis as any).window as
    | { addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void }
    | undefined;
  const nav = (globalThis as any).navigator as { onLine?: boolean } | undefined;

  const setStatus = (next: Status) => {
    if (status === next) return;
    status = next;
    options.onStatus?.(next);
  };

  const stop = (info: StopInfo) => {
    if (status === "closed") return;
    clearTimeout(retryTimer);
    clearTimeout(stableTimer);
    clearTimeout(helloTimer);
    win?.removeEventListener("online", onOnline);
    win?.removeEventListener("offline", onOffline);
    const s = socket;
    socket = null;
    if (s && s.readyState <= OPEN) s.close(1000);
    setStatus("closed");
    options.onStop?.(info);
  };

  const writeUnsent = (s: WebSocketLike) => {
    for (const frame of state.takeUnsent()) s.send(protocol === "raw" ? unwrap(frame) : frame);
    if (protocol === "raw") {
      // Raw frames have no acks: what is written is in the order as far as this client can know.
      for (const payload of writtenRaw.splice(0)) options.onPatch?.(payload, { seq: 0, own: true });
      state.dropWritten();
    }
  };
  // The raw fallback writes payloads as they are; writtenRaw remembers them to report them as written.
  const writtenRaw: Payload[] = [];
  const unwrap = (frame: string | Uint8Array): string | Uint8Array => {
    if (typeof frame === "string") {
      const payload = frame.slice(frame.indexOf("\n") + 1);
      writtenRaw.push(payload);
      return payload;
    }
    const payload = frame.slice(frame.indexOf(0x0a) + 1);
    writtenRaw.push(payload);
    return payload;
  };

  /** Raw frames on this socket, and on every later one: no hello to wait for, no ids, no resume. */
  const becomeRaw = (s: WebSocketLike, first?: Payload) => {
    clearTimeout(helloTimer);
    rawOnly = true;
    protocol = "raw";
    // The server replays its whole history to every connection, so a reconnect is a reset.
    options.onJoin?.({ protocol, resumed: false, reset: joinedOnce, epoch: null, head: null });
    joinedOnce = joined = true;
    if (first !== undefined) options.onPatch?.(first, { seq: 0, own: false });
    writeUnsent(s);
  };

  const scheduleRetry = () => {
    // Closed, or an "online" event reconnected meanwhile (a refusal check takes a while).
    if (status === "closed" || socket) return;
    setStatus("connecting");
    if (nav?.onLine === false) return; // the online event reconnects
    const delay = Math.min(maxDelay, minDelay * 2 ** attempt) * (0.5 + Math.random() * 0.5);
    attempt++;
    retryTimer = setTimeout(open, delay);
  };

  const open = () => {
    clearTimeout(retryTimer);
    if (status === "closed" || socket) return;
    setStatus("connecting");
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
    const s: WebSocketLike = rawOnly ? new Socket(target.toString()) : new Socket(target.toString(), [SUBPROTOCOL]);
    s.binaryType = "arraybuffer";
    socket = s;
    let opened = false;
    let httpStatus: number | undefined;
    let subprotocolMissing = false;

    s.addEventListener("open", () => {
      if (socket !== s) return;
      opened = true;
      refusals = 0;
      stableTimer = setTimeout(() => (attempt = 0), stableAfter);
      if (s.protocol === SUBPROTOCOL) {
        protocol = "relay.v1";
        // A server that said relay.v1 but sends nothing may be a raw relay with an empty history; one that sent a
        // hello before is slow, and is waited for (resending as raw frames could journal a patch twice).
        if (!spokeV1) {
          helloTimer = setTimeout(() => {
            if (socket === s && !joined) becomeRaw(s);
          }, helloTimeout);
        }
        setStatus("open");
      } else {
        setStatus("open");
        becomeRaw(s);
      }
    });
    s.addEventListener("message", (event: { data: unknown }) => {
      if (socket !== s) return;
      const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer);
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
        s.close(4001, "unexpected frame");
        return;
      }
      const delivery = state.receive(frame);
      if (delivery.kind === "join") {
        clearTimeout(helloTimer);
        spokeV1 = true;
        options.onJoin?.({ protocol: "relay.v1", resumed: delivery.resumed, reset: delivery.reset, epoch: delivery.epoch, head: delivery.head });
        joinedOnce = joined = true;
        // Unacknowledged patches first, oldest first, with their ids; new ones follow as they come.
        writeUnsent(s);
      } else if (delivery.kind === "patch") {
        options.onPatch?.(delivery.payload, { seq: delivery.seq, own: delivery.own });
      }
    });
    s.addEventListener("error", (event: unknown) => {
      httpStatus ??= statusOf(event);
      subprotocolMissing ||= noSubprotocol(event);
    });
    s.addEventListener("close", (event: { code: number; reason: string }) => {
      if (socket !== s) return;
      socket = null;
      clearTimeout(stableTimer);
      clearTimeout(helloTimer);
      if (httpStatus !== undefined && FINAL_HTTP.has(httpStatus)) {
        stop({ reason: "refused", code: httpStatus, detail: `the server answered the upgrade with HTTP ${httpStatus}` });
        return;
      }
      if (opened && finalClose(event.code, event.reason)) {
        stop({ reason: "rejected", code: event.code, detail: event.reason || `close code ${event.code}` });
        return;
      }
      if (!opened && subprotocolMissing && !rawOnly) {
        // The ws package fails a handshake whose answer names no subprotocol; a browser opens it and shows "".
        rawOnly = true;
        open();
        return;
      }
      if (!opened && httpStatus === undefined) {
        void countRefusal();
        return;
      }
      scheduleRetry();
    });
  };

  /**
   * A browser hides the status of a refused upgrade, so after a close before open the client asks the document's
   * plain HTTP address. Readable (same origin, or Node): a 400, 401 or 403 there is final, anything else is not a
   * refusal. Unreadable (another origin): if the server answered at all, the attempt counts as a refusal, and only
   * a run of them stops the client, since a node that is starting or shutting down refuses for a few seconds too.
   * An unreachable server never counts.
   */
  const countRefusal = async () => {
    const httpUrl = httpUrlOf(url);
    const fetchFn = (globalThis as any).fetch as ((u: string, o: object) => Promise<{ status: number }>) | undefined;
    const ask = (mode: string) => {
      const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(5000) : undefined;
      return fetchFn!(httpUrl, { mode, cache: "no-store", signal });
    };
    let unreadableAnswer = false;
    if (fetchFn) {
      try {
        const answer = await ask("cors");
        if (FINAL_HTTP.has(answer.status)) {
          stop({ reason: "refused", code: answer.status, detail: `the server answers ${httpUrl} with HTTP ${answer.status}` });
          return;
        }
      } catch {
        unreadableAnswer = await ask("no-cors").then(
          () => true,
          () => false,
        );
      }
    }
    if (unreadableAnswer && ++refusals >= maxRefusals) {
      stop({ reason: "refused", detail: `${refusals} upgrades in a row closed before opening while the server answered HTTP` });
      return;
    }
    scheduleRetry();
  };

  const onOnline = () => {
    attempt = 0;
    if (!socket) open();
  };
  const onOffline = () => {
    // The socket may take a long time to notice; close it now and reconnect on "online".
    const s = socket;
    if (s && s.readyState <= OPEN) s.close(4000, "offline");
  };
  win?.addEventListener("online", onOnline);
  win?.addEventListener("offline", onOffline);

  open();

  return {
    send(payload: Payload): boolean {
      if (status === "closed") return false;
      if (!state.add(payload)) return false;
      if (socket && joined && socket.readyState === OPEN) {
        writeUnsent(socket);
      }
      return true;
    },
    close() {
      stop({ reason: "closed", detail: "closed by the app" });
    },
    get status() {
      return status;
    },
    get protocol() {
      return protocol;
    },
    clientId,
    get lastSeq() {
      return state.lastSeq;
    },
    get epoch() {
      return state.epoch;
    },
    get pending() {
      return state.pendingCount;
    },
  };
}
