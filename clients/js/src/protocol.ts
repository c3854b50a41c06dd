/**
 * The relay.v1 protocol as a plain state object (docs/protocol.md), with no socket and no timers, so that it can
 * be reasoned about and tested on its own. The connection in client.ts is its shell: it hands it frames and
 * sends what it returns.
 */

/** A patch as the app hands it over and gets it back: text, or bytes. */
export type Payload = string | Uint8Array;

/** A presence state: a JSON object, replaced as a whole by the next one (docs/protocol.md, "Presence and broadcasts"). */
export type PresenceState = Record<string, unknown>;

/** The hello's presence limits; absent (null) when the server has presence off. */
export interface PresenceLimits {
  /** A present client that sends nothing for this long leaves the list; the client pings at a third of it. */
  timeoutSeconds: number;
  /** The largest state, in bytes of UTF-8 JSON. */
  maxStateBytes: number;
  /** Updates over this rate are coalesced by the server; the client sends no more than this itself. */
  maxUpdatesPerSecond: number;
}

/** Another connection of the document in the presence list. */
export interface PresenceEntry {
  /** Its presence id: the connection's client name, or one the server assigned. */
  client: string;
  /** Who it is (the token's `sub`, or the `user` it declared): one person's tabs share it. */
  user: string;
  state: PresenceState;
}

/** Who sent a broadcast. */
export interface Sender {
  client: string;
  user: string;
}

/** What a relay.v1 server frame says, once decoded. */
export type ServerFrame =
  | {
      type: "hello";
      document: string;
      epoch: string;
      head: number;
      resumed: boolean;
      lastId: number | null;
      /** This connection's presence id, when the server has presence on. */
      client?: string;
      presence?: PresenceLimits;
    }
  | { type: "patch"; seq: number; payload: Payload }
  | { type: "ack"; id: number; seq: number }
  | { type: "present"; clients: PresenceEntry[] }
  | { type: "presence"; event: "joined" | "updated"; client: string; user: string; state: PresenceState }
  | { type: "presence"; event: "left"; client: string; user: string }
  | { type: "broadcast"; client: string; user: string; payload: Payload }
  | { type: "unknown" };

/** A patch the app sent that the server has not acknowledged yet. */
interface Pending {
  id: number;
  payload: Payload;
  bytes: number;
  /** The sender's own name for it (tabs.ts: which tab wrote it), handed back with its ack. */
  tag?: string;
}

/** What applying one server frame means to the app. */
export type Delivery =
  | { kind: "join"; resumed: boolean; reset: boolean; epoch: string; head: number }
  | { kind: "patch"; seq: number; payload: Payload; own: boolean; tag?: string }
  | { kind: "ack"; id: number; seq: number }
  /** Another writer uses this client's name: an ack of an id it never wrote, or a hello's lastId past all it wrote. */
  | { kind: "shared"; detail: string }
  | { kind: "none" };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** The bytes a payload takes on the wire (a string counts as UTF-8). */
export function payloadBytes(payload: Payload): number {
  return typeof payload === "string" ? encoder.encode(payload).length : payload.byteLength;
}

/** A client frame: the header line, a newline and the payload; text for a text payload, bytes for a binary one. */
function encodeFrame(header: string, payload: Payload): string | Uint8Array {
  if (typeof payload === "string") return `${header}\n${payload}`;
  const head = encoder.encode(`${header}\n`);
  const frame = new Uint8Array(head.length + payload.byteLength);
  frame.set(head, 0);
  frame.set(payload, head.length);
  return frame;
}

/** Encodes a client patch frame: `{"id":N}\n<payload>`, text for a text payload, bytes for a binary one. */
export function encodePatch(id: number, payload: Payload): string | Uint8Array {
  return encodeFrame(`{"id":${id}}`, payload);
}

/** Encodes a presence frame: `{"type":"presence"}\n<state JSON>`; null clears (an empty payload). */
export function encodePresence(state: PresenceState | null): string {
  return `{"type":"presence"}\n${state === null ? "" : JSON.stringify(state)}`;
}

/** Encodes a broadcast frame: `{"type":"broadcast"}\n<payload>`, in a frame of the payload's type. */
export function encodeBroadcast(payload: Payload): string | Uint8Array {
  return encodeFrame(`{"type":"broadcast"}`, payload);
}

/** A sign of life that holds the presence lease while the client has nothing else to send. */
export const PING_FRAME = `{"type":"ping"}`;

function presenceLimits(value: unknown): PresenceLimits | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const limits = value as Record<string, unknown>;
  return {
    timeoutSeconds: Number(limits.timeoutSeconds),
    maxStateBytes: Number(limits.maxStateBytes),
    maxUpdatesPerSecond: Number(limits.maxUpdatesPerSecond),
  };
}

function entryOf(value: unknown): PresenceEntry {
  const entry = value as Record<string, unknown>;
  return { client: String(entry.client), user: String(entry.user), state: (entry.state ?? {}) as PresenceState };
}

/** Decodes a server frame: the header up to the first newline, the payload after it (text or bytes as it came). */
export function decodeFrame(data: string | Uint8Array): ServerFrame {
  let headerText: string;
  let payload: Payload;
  if (typeof data === "string") {
    const newline = data.indexOf("\n");
    headerText = newline < 0 ? data : data.slice(0, newline);
    payload = newline < 0 ? "" : data.slice(newline + 1);
  } else {
    const newline = data.indexOf(0x0a);
    headerText = decoder.decode(newline < 0 ? data : data.subarray(0, newline));
    payload = newline < 0 ? new Uint8Array(0) : data.slice(newline + 1);
  }
  const header = JSON.parse(headerText) as Record<string, unknown>;
  switch (header.type) {
    case "hello": {
      const hello: ServerFrame = {
        type: "hello",
        document: String(header.document ?? ""),
        epoch: String(header.epoch),
        head: Number(header.head),
        resumed: header.resumed === true,
        lastId: typeof header.lastId === "number" ? header.lastId : null,
      };
      if (typeof header.client === "string") hello.client = header.client;
      const presence = presenceLimits(header.presence);
      if (presence) hello.presence = presence;
      return hello;
    }
    case "patch":
      return { type: "patch", seq: Number(header.seq), payload };
    case "ack":
      return { type: "ack", id: Number(header.id), seq: Number(header.seq) };
    case "present":
      return { type: "present", clients: Array.isArray(header.clients) ? header.clients.map(entryOf) : [] };
    case "presence": {
      const { client, user, state } = entryOf(header);
      if (header.event === "left") return { type: "presence", event: "left", client, user };
      if (header.event === "joined" || header.event === "updated") return { type: "presence", event: header.event, client, user, state };
      return { type: "unknown" };
    }
    case "broadcast":
      return { type: "broadcast", client: String(header.client), user: String(header.user), payload };
    default:
      // Later versions may add frame types; a reader ignores what it does not know.
      return { type: "unknown" };
  }
}

/** Limits of what a client holds unacknowledged (sent and not yet acknowledged, or not sent yet). */
export interface PendingLimits {
  /** Most patches held; default 1000. */
  maxPending: number;
  /** Most payload bytes held; default 4 MiB. */
  maxPendingBytes: number;
  /** Own acknowledged patches kept to rebuild after a reset whose replay acknowledges them again; default 10,000. */
  retainAcked: number;
}

/**
 * One client's side of relay.v1 across all its connections: the id counter, the unacknowledged patches in id
 * order, the epoch and the last sequence number held.
 */
export class ClientState {
  /** The epoch of the history the client holds, from the last hello; null before the first. */
  epoch: string | null = null;
  /** The highest sequence number of any patch or ack received in this epoch. */
  lastSeq = 0;
  private nextId = 1;
  /** The highest id written on any connection under the current name; 0 before the first. */
  private maxWritten = 0;
  /** The client took a new name: its next join rebuilds the state (a reset), whatever it held. */
  private renamed = false;
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  /** Ids of the pending patches already written on the current connection (a prefix of `pending`). */
  private sentOnConnection = 0;
  private askedToResume = false;
  /** Own acknowledged payloads by id, oldest first, so that a reset's replay (which acks them) can rebuild. */
  private readonly acked = new Map<number, Payload>();

  constructor(private readonly limits: PendingLimits) {}

  /** Patches not yet acknowledged, sent or not. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Pending patches with an id above `through`: for a persisting client, those its storage does not hold yet. */
  pendingAbove(through: number): number {
    let count = 0;
    for (let i = this.pending.length - 1; i >= 0 && this.pending[i].id > through; i--) count++;
    return count;
  }

  /** The query a (re)connection asks with: resume after the last sequence number held, once a hello named the epoch. */
  resumeQuery(): { after: number; epoch: string } | null {
    return this.epoch === null ? null : { after: this.lastSeq, epoch: this.epoch };
  }

  /** A new connection starts: nothing of the pending patches is written on it yet. */
  connecting(resume: boolean): void {
    this.sentOnConnection = 0;
    this.askedToResume = resume;
  }

  /**
   * Takes a new patch. Null when the pending patches are at a limit: the patch is refused, not queued, and the
   * caller decides (useRelayState then leaves its state as it was).
   */
  add(payload: Payload, tag?: string): { id: number } | null {
    const bytes = payloadBytes(payload);
    if (this.pending.length >= this.limits.maxPending || this.pendingBytes + bytes > this.limits.maxPendingBytes) {
      return null;
    }
    const id = this.nextId++;
    this.pending.push(tag === undefined ? { id, payload, bytes } : { id, payload, bytes, tag });
    this.pendingBytes += bytes;
    return { id };
  }

  /**
   * The frames to write now on an open connection: every pending patch not written on it yet, oldest first, up to
   * id `through` (a persisting client writes only what its storage holds).
   */
  takeUnsent(through = Number.POSITIVE_INFINITY): (string | Uint8Array)[] {
    let end = this.sentOnConnection;
    while (end < this.pending.length && this.pending[end].id <= through) end++;
    const unsent = this.pending.slice(this.sentOnConnection, end);
    const frames = unsent.map((p) => encodePatch(p.id, p.payload));
    if (unsent.length > 0) this.maxWritten = Math.max(this.maxWritten, unsent[unsent.length - 1].id);
    this.sentOnConnection = end;
    return frames;
  }

  /** What a persisting client stores (storage.ts's StoredClient, less the id and the app's state). */
  stored(): { nextId: number; pending: { id: number; payload: Payload; tag?: string }[]; epoch: string | null; lastSeq: number } {
    const pending = this.pending.map((p) => (p.tag === undefined ? { id: p.id, payload: p.payload } : { id: p.id, payload: p.payload, tag: p.tag }));
    return { nextId: this.nextId, pending, epoch: this.epoch, lastSeq: this.lastSeq };
  }

  /** The tags of the pending patches, oldest first (undefined for an untagged one). */
  pendingTags(): (string | undefined)[] {
    return this.pending.map((p) => p.tag);
  }

  /**
   * Continues from what a closed page stored, before any connection: its counter, its pending patches (first, with
   * their ids), its epoch and last sequence number. Patches added meanwhile were never written: they follow, under
   * the next ids. Every id below the stored counter may have been written, so a hello's lastId up to it is this
   * client's own, and its resends of them are a run the server takes as resends.
   */
  restore(stored: { nextId: number; pending: { id: number; payload: Payload; tag?: string }[]; epoch: string | null; lastSeq: number }): void {
    const added = this.pending.splice(0);
    this.pendingBytes = 0;
    for (const p of stored.pending) {
      const bytes = payloadBytes(p.payload);
      this.pending.push(p.tag === undefined ? { id: p.id, payload: p.payload, bytes } : { id: p.id, payload: p.payload, bytes, tag: p.tag });
      this.pendingBytes += bytes;
    }
    this.nextId = stored.nextId;
    this.maxWritten = stored.nextId - 1;
    for (const p of added) {
      this.pending.push({ ...p, id: this.nextId++ });
      this.pendingBytes += p.bytes;
    }
    this.epoch = stored.epoch;
    this.lastSeq = stored.epoch === null ? 0 : stored.lastSeq;
    this.sentOnConnection = 0;
  }

  /** Applies one server frame and says what it means to the app. */
  receive(frame: ServerFrame): Delivery {
    switch (frame.type) {
      case "hello": {
        const reset = this.askedToResume && !frame.resumed;
        if (!frame.resumed) {
          // Everything follows from the start of the (maybe new) history: what the client held is void.
          this.lastSeq = 0;
        }
        this.epoch = frame.epoch;
        if (frame.lastId !== null && frame.lastId > this.maxWritten) {
          // Patches journaled under this name that this client did not write: a reloaded page that kept its name
          // but not its state, or another tab under the same name. Its own patches come to a client as acks,
          // without their payloads, so under this name it could neither rebuild its state nor number on safely.
          return { kind: "shared", detail: `the server holds patch ids up to ${frame.lastId} under this client id; this client wrote ${this.maxWritten === 0 ? "none" : `up to ${this.maxWritten}`}` };
        }
        const rebuild = this.renamed;
        this.renamed = false;
        return { kind: "join", resumed: frame.resumed, reset: reset || rebuild, epoch: frame.epoch, head: frame.head };
      }
      case "patch":
        // A snapshot join may start past 1, so any later number is taken; an earlier one would be a repeat.
        if (frame.seq <= this.lastSeq) return { kind: "none" };
        this.lastSeq = frame.seq;
        return { kind: "patch", seq: frame.seq, payload: frame.payload, own: false };
      case "ack":
        return this.acknowledge(frame.id, frame.seq);
      default:
        return { kind: "none" };
    }
  }

  /**
   * Starts over under a new name: the pending patches, written or not, are numbered again from 1, and the next
   * connection joins from the start (no resume: what this client took for its own acks may be another writer's
   * patches, whose payloads it never received).
   */
  startOverUnderNewName(): void {
    this.renamed = true;
    this.maxWritten = 0;
    this.epoch = null;
    this.lastSeq = 0;
    this.acked.clear();
    this.renumberFrom(1);
  }

  private renumberFrom(first: number): void {
    this.nextId = first;
    for (const p of this.pending) p.id = this.nextId++;
  }

  /** An ack is cumulative: it confirms its id and every lower one of this client. */
  private acknowledge(id: number, seq: number): Delivery {
    if (seq <= this.lastSeq) return { kind: "none" };
    if (id > this.maxWritten && !this.acked.has(id)) {
      // Not an id this client wrote: another writer uses its name (or it forgot what it wrote).
      return { kind: "shared", detail: `an ack of id ${id}, which this client never wrote (it wrote up to ${this.maxWritten})` };
    }
    this.lastSeq = seq;
    let payload: Payload | undefined = this.acked.get(id);
    let tag: string | undefined;
    let confirmed = 0;
    while (confirmed < this.pending.length && this.pending[confirmed].id <= id) {
      const done = this.pending[confirmed++];
      this.pendingBytes -= done.bytes;
      if (done.id === id) {
        payload = done.payload;
        tag = done.tag;
      }
      this.retain(done.id, done.payload);
    }
    this.pending.splice(0, confirmed);
    this.sentOnConnection = Math.max(0, this.sentOnConnection - confirmed);
    // The app already applied its own patch when it sent it; it needs it again only to rebuild after a reset.
    if (payload === undefined) return { kind: "ack", id, seq };
    return tag === undefined ? { kind: "patch", seq, payload, own: true } : { kind: "patch", seq, payload, own: true, tag };
  }

  private retain(id: number, payload: Payload): void {
    if (this.limits.retainAcked <= 0) return;
    this.acked.set(id, payload);
    if (this.acked.size > this.limits.retainAcked) {
      this.acked.delete(this.acked.keys().next().value as number);
    }
  }

  /** The raw fallback has no acks: a patch written on a raw socket is done. */
  dropWritten(): void {
    for (const p of this.pending.splice(0, this.sentOnConnection)) this.pendingBytes -= p.bytes;
    this.sentOnConnection = 0;
  }
}
