/**
 * Presence as plain state objects (docs/protocol.md, "Presence and broadcasts"), with no socket and no timers, as
 * protocol.ts is for patches: the list of the document's other present clients, and this client's own state with
 * what the current connection's server holds of it. client.ts is their shell: it hands them frames and the time,
 * and writes what they return.
 */
import { encodePresence, type PresenceEntry, type PresenceLimits, type PresenceState, type ServerFrame } from "./protocol.js";

/** What changed in the list of others: one entry, or the whole list (a `present` resync, a new or lost connection). */
export type PresenceChange =
  | { type: "joined" | "updated"; client: string; user: string; state: PresenceState }
  | { type: "left"; client: string; user: string }
  | { type: "resync" };

const encoder = new TextEncoder();

/** The document's other present clients, as the server last said, in the order they joined. */
export class PresenceList {
  private readonly entries = new Map<string, PresenceEntry>();

  get list(): PresenceEntry[] {
    return [...this.entries.values()];
  }

  /**
   * A new connection, or a lost one: nobody is known to be there until the server says (a `present` frame follows
   * a hello when anyone is). Null when the list was empty already.
   */
  clear(): PresenceChange | null {
    if (this.entries.size === 0) return null;
    this.entries.clear();
    return { type: "resync" };
  }

  /** Applies a `present` or `presence` frame; null when it changes nothing (a `left` of a client not listed). */
  apply(frame: Extract<ServerFrame, { type: "present" | "presence" }>): PresenceChange | null {
    if (frame.type === "present") {
      this.entries.clear();
      for (const entry of frame.clients) this.entries.set(entry.client, entry);
      return { type: "resync" };
    }
    const { client, user } = frame;
    if (frame.event === "left") {
      const known = this.entries.get(client);
      if (!known) return null;
      this.entries.delete(client);
      return { type: "left", client, user: known.user };
    }
    // An update of a client not listed (its join was a frame the server dropped before a resync) is a join.
    const type = this.entries.has(client) ? "updated" : "joined";
    this.entries.set(client, { client, user, state: frame.state });
    return { type, client, user, state: frame.state };
  }
}

/**
 * This client's presence: the state the app set, and what the current connection's server holds of it. A new
 * connection holds nothing, so the state goes out again after every (re)connect; updates go out at most
 * `maxUpdatesPerSecond`, the latest winning, so that a cursor moved at the screen's rate neither costs the
 * connection's message rate nor queues stale states.
 */
export class OwnPresence {
  private json: string | null = null;
  private limits: PresenceLimits | null = null;
  /** What the server holds of this client on the current connection: the last state sent, null for none. */
  private sent: string | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  /** The state the app set, null for none. */
  get state(): PresenceState | null {
    return this.json === null ? null : (JSON.parse(this.json) as PresenceState);
  }

  /** The current connection's presence limits; null while not joined, and on a server with presence off. */
  get serverLimits(): PresenceLimits | null {
    return this.limits;
  }

  /** The server lists this client on the current connection, so its lease needs a sign of life now and then. */
  get present(): boolean {
    return this.sent !== null;
  }

  /**
   * Takes the app's state, replacing the last one (null clears). False, and nothing changes, when it is over the
   * server's maxStateBytes: the server would close the connection for it.
   */
  set(state: PresenceState | null): boolean {
    if (state !== null && (typeof state !== "object" || Array.isArray(state))) {
      throw new TypeError("a presence state is a JSON object, or null to clear it");
    }
    const json = state === null ? null : JSON.stringify(state);
    if (json !== null && !this.fits(json)) return false;
    this.json = json;
    return true;
  }

  /**
   * A connection joined, with its server's limits (null: presence is off there). It holds nothing of this client
   * yet. False when the state set before is over the new server's limit: it is cleared, not sent.
   */
  joined(limits: PresenceLimits | null): boolean {
    this.limits = limits;
    this.sent = null;
    this.lastSentAt = Number.NEGATIVE_INFINITY;
    if (this.json !== null && !this.fits(this.json)) {
      this.json = null;
      return false;
    }
    return true;
  }

  /** The connection is gone: the next one starts from nothing. */
  left(): void {
    this.limits = null;
    this.sent = null;
  }

  /**
   * What to write at `now` (ms): a presence frame, or how long to wait before asking again (the last update went
   * out less than 1/maxUpdatesPerSecond ago), or nothing (the server holds the state already, or presence is off).
   */
  due(now: number): { frame: string } | { wait: number } | null {
    if (this.limits === null || this.json === this.sent) return null;
    const wait = this.lastSentAt + 1000 / Math.max(1, this.limits.maxUpdatesPerSecond) - now;
    if (wait > 0) return { wait };
    this.sent = this.json;
    this.lastSentAt = now;
    return { frame: encodePresence(this.json === null ? null : (JSON.parse(this.json) as PresenceState)) };
  }

  /** How often a present client that sends nothing else pings (a third of the lease); null with presence off. */
  pingInterval(): number | null {
    return this.limits === null ? null : (this.limits.timeoutSeconds * 1000) / 3;
  }

  private fits(json: string): boolean {
    return this.limits === null || encoder.encode(json).length <= this.limits.maxStateBytes;
  }
}
