/**
 * Many tabs, one connection (useRelayState's `shareTabs`, README "Many tabs, one connection"). The tabs of one
 * document in one browser profile elect a leader with a Web Lock; the leader runs the one relay.v1 client, its
 * outbox persisted in IndexedDB, and the other tabs hand it their changes and get the document's order back over a
 * BroadcastChannel. Each change is named by its tab (`<tab>:<n>`), a name the leader stores with the patch and
 * every tab can ask about, so that a change the old leader took is never sent again by the new one.
 */
import type { Draft } from "immer";
import { connect, documentOf, randomId, type ConnectOptions, type JoinInfo, type Protocol, type RelayClient, type RestoredOutbox, type Status } from "./client.js";
import { OrderedState } from "./state.js";
import { indexedDbStorage, type OutboxStorage } from "./storage.js";

/** What the tabs say to each other. `to` names the one tab a snapshot is for. */
type Message =
  | { t: "leader" }
  | { t: "attach"; from: string }
  | { t: "submit"; tag: string; payload: string }
  | { t: "refused"; tag: string }
  | { t: "snapshot"; to: string; state: unknown; ordered: string[]; view: Shared }
  | { t: "patch"; payload: string; tag: string | null }
  | { t: "reset" }
  | { t: "view"; view: Shared };

/** The connection as the leader sees it, which every tab shows. */
interface Shared {
  status: Status;
  protocol: Protocol | null;
  lastJoin: JoinInfo | null;
}

/** What the leader stores as the app's state: the state, and the names of the changes most recently in the order. */
interface GroupState {
  state: unknown;
  ordered: string[];
}

/** Names of changes in the order that the leader remembers, so that a tab's resubmission of one is known. */
const REMEMBERED = 10_000;

/** What a tab of a group shows of the connection. */
export interface TabConnection extends Shared {
  /** Own changes not in the order yet. */
  pending: number;
  /** This tab holds the socket. */
  leader: boolean;
}

/** Whether this environment can share one connection between tabs: Web Locks, BroadcastChannel and IndexedDB. */
export function canShareTabs(): boolean {
  const g = globalThis as any;
  return !!g.navigator?.locks && typeof g.BroadcastChannel === "function" && typeof g.indexedDB !== "undefined";
}

/** One tab's part of a group: a leader or a follower, and a leader in turn once the one before it is gone. */
export class TabGroup<T> {
  private readonly tab = randomId().slice(0, 16);
  private counter = 0;
  private readonly model: OrderedState<T>;
  private readonly channel: BroadcastChannel;
  private readonly abort = new AbortController();
  private readonly document: string;
  private client: RelayClient | null = null;
  private leading = false;
  private closed = false;
  /** Leader: the stored outbox is loaded, so what the session holds is known. */
  private restored = false;
  /** Follower: a snapshot from the current leader came in; patches before it are not applied. */
  private attached = false;
  private readonly queued: Message[] = [];
  private ordered: string[] = [];
  private orderedSet = new Set<string>();
  private readonly inSession = new Set<string>();
  private shared: Shared = { status: "connecting", protocol: null, lastJoin: null };

  constructor(
    private readonly url: string,
    private readonly initial: T,
    private readonly options: ConnectOptions,
    private readonly onChange: () => void,
  ) {
    this.model = new OrderedState(initial);
    this.document = documentOf(url);
    this.channel = new BroadcastChannel(`relay-tabs ${this.document}`);
    this.channel.onmessage = (event: MessageEvent<Message>) => this.receive(event.data);
    (navigator as any).locks
      .request(`relay-leader ${this.document}`, { signal: this.abort.signal }, () => this.lead())
      .catch(() => {
        // Aborted: this tab closed while it waited.
      });
    this.post({ t: "attach", from: this.tab });
  }

  get state(): T {
    return this.model.current;
  }

  get connection(): TabConnection {
    return { ...this.shared, pending: this.model.pendingChanges().length, leader: this.leading };
  }

  /** Applies the change here at once and hands it to the leader (this tab, or another). */
  update(recipe: (draft: Draft<T>) => void): boolean {
    if (this.closed) return false;
    const tag = `${this.tab}:${++this.counter}`;
    const accepted = this.model.change(recipe, (payload) => this.submit(tag, payload), tag);
    this.onChange();
    return accepted;
  }

  /** Leaves the group: a leader closes its client (a last save) and only then lets the next tab lead. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.client?.close();
    this.channel.close();
  }

  private post(message: Message): void {
    if (!this.closed) this.channel.postMessage(message);
  }

  private submit(tag: string, payload: string): boolean {
    if (!this.leading) {
      this.post({ t: "submit", tag, payload });
      return true;
    }
    if (!this.restored) {
      this.queued.push({ t: "submit", tag, payload });
      return true;
    }
    if (this.orderedSet.has(tag) || this.inSession.has(tag)) return true;
    if (!this.client!.send(payload, tag)) return false;
    this.inSession.add(tag);
    return true;
  }

  private mine(tag: string | null): tag is string {
    return tag !== null && tag.startsWith(`${this.tab}:`);
  }

  private receive(message: Message): void {
    if (this.closed) return;
    if (this.leading) {
      if (message.t === "submit" || message.t === "attach") {
        if (!this.restored) this.queued.push(message);
        else if (message.t === "attach") this.answer(message.from);
        else if (!this.submit(message.tag, message.payload)) this.post({ t: "refused", tag: message.tag });
      }
      return;
    }
    switch (message.t) {
      case "leader":
        // A new leader: what it holds may differ from what the old one sent; wait for its snapshot.
        this.attached = false;
        this.post({ t: "attach", from: this.tab });
        return;
      case "snapshot": {
        if (message.to !== this.tab) return;
        const ordered = new Set(message.ordered);
        this.model.adopt(message.state as T, (tag) => tag === undefined || !ordered.has(tag));
        this.shared = message.view;
        this.attached = true;
        // The leader ignores what it has taken already: every change not in the order yet goes again.
        for (const change of this.model.pendingChanges()) {
          if (change.tag !== undefined) this.post({ t: "submit", tag: change.tag, payload: change.payload });
        }
        break;
      }
      case "patch":
        if (!this.attached) return;
        this.model.ordered(message.payload, this.mine(message.tag), this.mine(message.tag) ? message.tag : undefined);
        break;
      case "reset":
        if (!this.attached) return;
        this.model.reset();
        break;
      case "refused":
        if (!this.mine(message.tag)) return;
        this.model.drop(message.tag);
        break;
      case "view":
        this.shared = message.view;
        break;
      default:
        return;
    }
    this.onChange();
  }

  private answer(to: string): void {
    this.post({ t: "snapshot", to, state: this.model.confirmed, ordered: this.ordered, view: this.shared });
  }

  private remember(tag: string): void {
    this.inSession.delete(tag);
    if (this.orderedSet.has(tag)) return;
    this.ordered.push(tag);
    this.orderedSet.add(tag);
    if (this.ordered.length > REMEMBERED) this.orderedSet.delete(this.ordered.shift()!);
  }

  private setShared(next: Partial<Shared>): void {
    this.shared = { ...this.shared, ...next };
    this.post({ t: "view", view: this.shared });
    this.onChange();
  }

  /** The lock is this tab's: run the group's client until this tab closes, then let the lock go. */
  private lead(): Promise<void> {
    if (this.closed) return Promise.resolve();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    // The lock keeps any other tab from the record: the storage need not hold one of its own.
    const base = indexedDbStorage({ name: "relay-tabs", locks: false });
    let opened = false;
    const storage: OutboxStorage = {
      open: async (document, request) => {
        try {
          const box = await base.open(document, request);
          opened = true;
          return { stored: box.stored, save: (record) => box.save(record), release: () => (box.release(), done()) };
        } catch (error) {
          queueMicrotask(() => this.restore(null));
          throw error;
        }
      },
    };
    this.leading = true;
    this.attached = true;
    this.client = connect(this.url, {
      ...this.options,
      persist: storage,
      stateToStore: (): GroupState => ({ state: this.model.confirmed, ordered: this.ordered }),
      onRestore: (restored) => {
        this.restore(restored);
        this.options.onRestore?.(restored);
      },
      onStatus: (status) => {
        this.setShared({ status, protocol: this.client?.protocol ?? null });
        this.options.onStatus?.(status);
      },
      onJoin: (join) => {
        if (join.reset) {
          this.model.reset();
          this.post({ t: "reset" });
        }
        this.setShared({ lastJoin: join, protocol: join.protocol });
        this.options.onJoin?.(join);
      },
      onPatch: (payload, info) => {
        const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
        const tag = info.own ? (info.tag ?? null) : null;
        if (tag !== null) this.remember(tag);
        this.model.ordered(text, this.mine(tag), this.mine(tag) ? tag : undefined);
        this.post({ t: "patch", payload: text, tag });
        // To the app, another tab's change is not its own, though the group's client sent it.
        this.options.onPatch?.(payload, tag === null || this.mine(tag) ? info : { ...info, own: false });
        this.onChange();
      },
      onStop: (stop) => {
        this.setShared({ status: "closed" });
        if (!opened) done();
        this.options.onStop?.(stop);
      },
    });
    return finished;
  }

  /**
   * The leader continues from what the group stored (null: no storage): the state and the names of the changes in
   * the order as of the stored sequence number, and the changes the stored outbox still holds (without storage, a
   * full join from the initial state). Own changes in
   * neither go to the session now; the other tabs are told to attach and resubmit theirs.
   */
  private restore(restored: RestoredOutbox | null): void {
    const group = restored?.state as GroupState | undefined;
    this.ordered = group?.ordered?.slice(-REMEMBERED) ?? [];
    this.orderedSet = new Set(this.ordered);
    for (const tag of restored?.tags ?? []) if (tag !== undefined) this.inSession.add(tag);
    // The session resumes after the stored sequence number, from the state stored with it (or from the start).
    this.model.adopt((group?.state as T | undefined) ?? this.initial, (tag) => tag === undefined || !this.orderedSet.has(tag));
    this.restored = true;
    for (const change of this.model.pendingChanges()) {
      if (change.tag !== undefined && !this.inSession.has(change.tag) && !this.orderedSet.has(change.tag)) {
        if (this.client?.send(change.payload, change.tag)) this.inSession.add(change.tag);
      }
    }
    for (const message of this.queued.splice(0)) this.receive(message);
    this.post({ t: "leader" });
    this.onChange();
  }
}
