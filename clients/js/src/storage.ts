/**
 * Where a client keeps its outbox across page loads (ConnectOptions.persist, README "Surviving a closed tab"): its
 * id, its id counter, its unacknowledged patches, its epoch and last sequence number, and optionally the state they
 * belong to. Two adapters share one claiming rule: IndexedDB with Web Locks in a browser, and memory for tests.
 */
import type { Payload } from "./protocol.js";

/** A patch the server has not acknowledged, with the id it was (or will be) sent under. */
export interface StoredPatch {
  id: number;
  payload: Payload;
  /** The sender's name for it, if it gave one (`send(payload, tag)`). */
  tag?: string;
}

/** One client of one document, as stored: enough to continue where a closed page stopped. */
export interface StoredClient {
  clientId: string;
  /** The next patch id: every lower one was taken, and is acknowledged or among `pending`. */
  nextId: number;
  /** Unacknowledged patches, in id order: a run that ends at `nextId - 1`. */
  pending: StoredPatch[];
  /** The epoch of the history `lastSeq` counts in; null before the first join. */
  epoch: string | null;
  lastSeq: number;
  /** The app's state as of `lastSeq` (useRelayState's, without the pending patches); only with an epoch. */
  state?: unknown;
}

/** One connect()'s claim on a stored client: no other live client of the same storage holds it. */
export interface Outbox {
  /** What the client continues from: an earlier page's record, or a fresh one. */
  readonly stored: StoredClient;
  /**
   * Replaces the record; resolves once it is durable. The client waits for each save before the next. A record
   * under another client id (the client renamed) moves the claim to that id and drops the old record.
   */
  save(record: StoredClient): Promise<void>;
  /** The client closed: the claim is given up, and the record stays for the next page to continue. */
  release(): void;
}

/** A place to keep outboxes: `memoryStorage()`, `indexedDbStorage()`, or one of the app's own. */
export interface OutboxStorage {
  /**
   * Claims a client of `document` (the URL without its query): a stored one no live client holds, those with
   * pending patches first and `clientId`'s first among equals, or else a fresh record under `clientId` if no live
   * client holds it, else under `newId()`.
   */
  open(document: string, request: { clientId: string | null; newId: () => string }): Promise<Outbox>;
}

/** What an adapter keeps per document and client id, and the claims it can hold; see claimOutbox. */
interface Backend {
  list(document: string): Promise<StoredClient[]>;
  /** Writes `record`, and drops the record of `replaces` in the same step. */
  put(document: string, record: StoredClient, replaces?: string): Promise<void>;
  remove(document: string, clientId: string): Promise<void>;
  /** Holds the claim on a client id if no one does; its release, or null. */
  hold(document: string, clientId: string): Promise<(() => void) | null>;
}

/** The claiming rule both adapters follow, over what each keeps and how it holds a claim. */
async function claimOutbox(backend: Backend, document: string, request: { clientId: string | null; newId: () => string }): Promise<Outbox> {
  const records = await backend.list(document);
  const rank = (r: StoredClient) => (r.pending.length > 0 ? 0 : 2) + (r.clientId === request.clientId ? 0 : 1);
  records.sort((a, b) => rank(a) - rank(b));
  let chosen: { record: StoredClient; release: () => void } | null = null;
  for (const record of records) {
    // Once one is chosen, only records with nothing to send are touched (to drop them): holding another's record
    // even for a moment could make a page opening at the same time pass it by.
    if (chosen && record.pending.length > 0) continue;
    const release = await backend.hold(document, record.clientId);
    if (!release) continue; // a live client's
    if (!chosen) {
      chosen = { record, release };
      continue;
    }
    // Another closed page's record with nothing to send: only its counter and state, which nothing needs.
    await backend.remove(document, record.clientId);
    release();
  }
  if (!chosen) {
    let clientId = request.clientId ?? request.newId();
    let release = await backend.hold(document, clientId);
    if (!release) {
      // Another live page of this document uses the id the app asked for: this one is a second writer.
      clientId = request.newId();
      release = await backend.hold(document, clientId);
    }
    chosen = { record: { clientId, nextId: 1, pending: [], epoch: null, lastSeq: 0 }, release: release ?? (() => {}) };
  }
  let { clientId } = chosen.record;
  let release = chosen.release;
  let released = false;
  return {
    stored: chosen.record,
    async save(record) {
      if (released) return;
      if (record.clientId === clientId) {
        await backend.put(document, record);
        return;
      }
      const next = (await backend.hold(document, record.clientId)) ?? (() => {});
      await backend.put(document, record, clientId);
      release();
      release = next;
      clientId = record.clientId;
    },
    release() {
      if (released) return;
      released = true;
      release();
    },
  };
}

/**
 * Outboxes in this object's memory: each `memoryStorage()` is one browser profile, and clients connected with the
 * same one are its tabs. For Node and tests; nothing outlives the process.
 */
export function memoryStorage(): OutboxStorage {
  const records = new Map<string, StoredClient>();
  const held = new Set<string>();
  const key = (document: string, clientId: string) => `${document}\n${clientId}`;
  const backend: Backend = {
    async list(document) {
      return [...records.entries()].filter(([k]) => k.startsWith(`${document}\n`)).map(([, r]) => structuredClone(r));
    },
    async put(document, record, replaces) {
      records.set(key(document, record.clientId), structuredClone(record));
      if (replaces !== undefined) records.delete(key(document, replaces));
    },
    async remove(document, clientId) {
      records.delete(key(document, clientId));
    },
    async hold(document, clientId) {
      const k = key(document, clientId);
      if (held.has(k)) return null;
      held.add(k);
      return () => held.delete(k);
    },
  };
  return { open: (document, request) => claimOutbox(backend, document, request) };
}

/** Completes with an IDBRequest's result. */
function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Outboxes in the browser's IndexedDB (database `name`, default `relay-client`), one record per document and
 * client id; a live client holds a Web Lock named `relay-outbox <document> <client id>`, so another tab of the same
 * origin never takes its record (it starts one of its own), and a closed tab's record is free for the next page.
 * Without the Web Locks API (a page not in a secure context) or IndexedDB, open() fails and the client keeps its
 * outbox in memory only. With `locks: false` it holds none: the caller is the only writer already (tabs.ts's
 * leader holds the document's own lock).
 */
export function indexedDbStorage(options: { name?: string; locks?: boolean } = {}): OutboxStorage {
  const name = options.name ?? "relay-client";
  const store = "outboxes";
  let database: Promise<IDBDatabase> | null = null;
  const db = () =>
    (database ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(store);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    }));
  // The key sorts one document's clients together: the document, a NUL, the client id (which has no NUL).
  const key = (document: string, clientId: string) => `${document}\u0000${clientId}`;
  /** One transaction: durable once it completes. Committed at once, so nothing waits for the task to end. */
  const write = async (work: (s: IDBObjectStore) => void) => {
    const tx = (await db()).transaction(store, "readwrite");
    const completed = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
    work(tx.objectStore(store));
    (tx as IDBTransaction & { commit?: () => void }).commit?.();
    await completed;
  };
  const locks = (globalThis as any).navigator?.locks as
    | { request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown): Promise<unknown> }
    | undefined;
  const backend: Backend = {
    async list(document) {
      const range = IDBKeyRange.bound(`${document}\u0000`, `${document}\u0001`, false, true);
      const tx = (await db()).transaction(store, "readonly");
      return (await done(tx.objectStore(store).getAll(range))) as StoredClient[];
    },
    put: (document, record, replaces) =>
      write((s) => {
        s.put(record, key(document, record.clientId));
        if (replaces !== undefined) s.delete(key(document, replaces));
      }),
    remove: (document, clientId) => write((s) => s.delete(key(document, clientId))),
    hold: (document, clientId) =>
      options.locks === false ? Promise.resolve(() => {}) : new Promise((resolve) => {
        locks!
          .request(`relay-outbox ${document} ${clientId}`, { ifAvailable: true }, (lock) => {
            if (!lock) return resolve(null);
            // Held until released, or until the page is gone.
            return new Promise<void>((release) => resolve(() => release()));
          })
          .catch(() => resolve(null));
      }),
  };
  return {
    async open(document, request) {
      if (!locks) throw new Error("indexedDbStorage needs the Web Locks API (a secure context)");
      if (typeof indexedDB === "undefined") throw new Error("indexedDbStorage needs IndexedDB");
      return claimOutbox(backend, document, request);
    },
  };
}
