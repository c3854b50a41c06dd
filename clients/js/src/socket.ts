/**
 * A WebSocket that reconnects, as partysocket's ws.ts is apart from its app: backoff, the browser's online and
 * offline events, and the answers that stop it for good (a refused upgrade, a final close code). It knows nothing
 * of relay.v1 frames; client.ts runs the relay.v1 session over it.
 */
import { CloseCode, closeIsFinal, refusalIsFinal } from "./closeCodes.js";

/**
 * The client's state: `connecting` (an attempt, a wait to retry, or a socket open whose join has not arrived yet),
 * `open` (joined: the relay.v1 hello arrived, or the client speaks raw frames on it), or `closed` for good.
 */
export type Status = "connecting" | "open" | "closed";

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

/** How the socket reconnects; connect()'s options of the same names. */
export interface ReconnectOptions {
  /** The WebSocket implementation; default `globalThis.WebSocket` (in Node 20, pass `ws`'s `WebSocket`). */
  WebSocket?: WebSocketConstructor;
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
}

/** What the socket asks of the protocol over it, and tells it. */
export interface SocketHandlers {
  /** The address and subprotocols of the next attempt, asked anew for each (partysocket's URL function). */
  target(): { url: string; protocols?: string[] };
  /** An attempt starts, or a retry waits for its delay or for the network to come back. */
  onConnecting(): void;
  onOpen(socket: WebSocketLike): void;
  /** A frame of the current socket: text as a string, binary as bytes. */
  onMessage(data: string | Uint8Array, socket: WebSocketLike): void;
  /** The current socket closed; a retry follows unless onStop does. */
  /** The socket closed, with the server's code and reason (1006 and "" when it just dropped). */
  onClose(code: number, reason: string): void;
  /**
   * The server chose none of the subprotocols offered (the `ws` package fails such a handshake; a browser opens it
   * with `protocol` ""). True to try again at once, for target() to offer other ones.
   */
  onNoSubprotocol(): boolean;
  /** It stopped for good: after close(), a final refusal or a final close code. */
  onStop(stop: StopInfo): void;
}

const OPEN = 1;

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

/** One WebSocket at a time to the address target() names, reopened with backoff until stop() or a final answer. */
export class ReconnectingSocket {
  private readonly Socket: WebSocketConstructor;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly stableAfter: number;
  private readonly maxRefusals: number;
  private socket: WebSocketLike | null = null;
  private stopped = false;
  private attempt = 0;
  private refusals = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly win = (globalThis as any).window as
    | { addEventListener(t: string, l: () => void): void; removeEventListener(t: string, l: () => void): void }
    | undefined;
  private readonly nav = (globalThis as any).navigator as { onLine?: boolean } | undefined;

  constructor(options: ReconnectOptions, private readonly handlers: SocketHandlers) {
    const Socket = options.WebSocket ?? (globalThis as any).WebSocket;
    if (!Socket) throw new Error("no WebSocket: pass options.WebSocket (in Node 20, the `ws` package's WebSocket)");
    this.Socket = Socket;
    this.minDelay = options.minDelay ?? 500;
    this.maxDelay = options.maxDelay ?? 20_000;
    this.stableAfter = options.stableAfter ?? 60_000;
    this.maxRefusals = options.maxRefusals ?? 8;
  }

  /** The socket of the current attempt, open or not yet; null between attempts and once stopped. */
  get current(): WebSocketLike | null {
    return this.socket;
  }

  /** The current socket if it is open, to write on. */
  get open(): WebSocketLike | null {
    return this.socket?.readyState === OPEN ? this.socket : null;
  }

  /** The first attempt, and the online and offline events from here on; nothing once stopped. */
  start(): void {
    if (this.stopped) return;
    this.win?.addEventListener("online", this.onOnline);
    this.win?.addEventListener("offline", this.onOffline);
    this.dial();
  }

  /** Closes the socket and stops retrying; onStop gets `stop`. */
  stop(stop: StopInfo): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    this.win?.removeEventListener("online", this.onOnline);
    this.win?.removeEventListener("offline", this.onOffline);
    const s = this.socket;
    this.socket = null;
    if (s && s.readyState <= OPEN) s.close(CloseCode.Normal);
    this.handlers.onStop(stop);
  }

  private readonly onOnline = () => {
    this.attempt = 0;
    if (!this.socket) this.dial();
  };

  private readonly onOffline = () => {
    // The socket may take a long time to notice, and its close event waits for a close handshake that a network
    // gone offline may never finish: let it go now, tell it closed, and reconnect on "online". Its late close
    // event (and anything it still delivers) is ignored, as for any socket no longer current.
    const s = this.socket;
    if (!s || s.readyState > OPEN) return;
    this.socket = null;
    clearTimeout(this.stableTimer);
    s.close(CloseCode.Offline, "offline");
    this.handlers.onClose(CloseCode.Offline, "offline");
    this.scheduleRetry();
  };

  private scheduleRetry(): void {
    // Stopped, or an "online" event reconnected meanwhile (a refusal check takes a while).
    if (this.stopped || this.socket) return;
    this.handlers.onConnecting();
    if (this.nav?.onLine === false) return; // the online event reconnects
    const delay = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt) * (0.5 + Math.random() * 0.5);
    this.attempt++;
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }

  private dial(): void {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.socket) return;
    this.handlers.onConnecting();
    const target = this.handlers.target();
    const s: WebSocketLike = target.protocols ? new this.Socket(target.url, target.protocols) : new this.Socket(target.url);
    s.binaryType = "arraybuffer";
    this.socket = s;
    let opened = false;
    let httpStatus: number | undefined;
    let subprotocolMissing = false;

    s.addEventListener("open", () => {
      if (this.socket !== s) return;
      opened = true;
      this.refusals = 0;
      this.stableTimer = setTimeout(() => (this.attempt = 0), this.stableAfter);
      this.handlers.onOpen(s);
    });
    s.addEventListener("message", (event: { data: unknown }) => {
      if (this.socket !== s) return;
      const data = typeof event.data === "string" ? event.data : new Uint8Array(event.data as ArrayBuffer);
      this.handlers.onMessage(data, s);
    });
    s.addEventListener("error", (event: unknown) => {
      httpStatus ??= statusOf(event);
      subprotocolMissing ||= noSubprotocol(event);
    });
    s.addEventListener("close", (event: { code: number; reason: string }) => {
      if (this.socket !== s) return;
      this.socket = null;
      clearTimeout(this.stableTimer);
      this.handlers.onClose(event.code, event.reason);
      if (httpStatus !== undefined && refusalIsFinal(httpStatus)) {
        this.stop({ reason: "refused", code: httpStatus, detail: `the server answered the upgrade with HTTP ${httpStatus}` });
        return;
      }
      if (opened && closeIsFinal(event.code, event.reason)) {
        this.stop({ reason: "rejected", code: event.code, detail: event.reason || `close code ${event.code}` });
        return;
      }
      if (!opened && subprotocolMissing && this.handlers.onNoSubprotocol()) {
        this.dial();
        return;
      }
      if (!opened && httpStatus === undefined) {
        void this.countRefusal(target.url);
        return;
      }
      this.scheduleRetry();
    });
  }

  /**
   * A browser hides the status of a refused upgrade, so after a close before open the socket asks the document's
   * plain HTTP address. Readable (same origin, or Node): a 400, 401 or 403 there is final, anything else is not a
   * refusal. Unreadable (another origin): if the server answered at all, the attempt counts as a refusal, and only
   * a run of them stops the client, since a node that is starting or shutting down refuses for a few seconds too.
   * An unreachable server never counts.
   */
  private async countRefusal(url: string): Promise<void> {
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
        if (refusalIsFinal(answer.status)) {
          this.stop({ reason: "refused", code: answer.status, detail: `the server answers ${httpUrl} with HTTP ${answer.status}` });
          return;
        }
      } catch {
        unreadableAnswer = await ask("no-cors").then(
          () => true,
          () => false,
        );
      }
    }
    if (unreadableAnswer && ++this.refusals >= this.maxRefusals) {
      this.stop({ reason: "refused", detail: `${this.refusals} upgrades in a row closed before opening while the server answered HTTP` });
      return;
    }
    this.scheduleRetry();
  }
}
