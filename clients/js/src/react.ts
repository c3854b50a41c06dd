import { useCallback, useEffect, useRef, useState } from "react";
import type { Draft } from "immer";
import { connect, type ConnectOptions, type JoinInfo, type Protocol, type RelayClient, type Status } from "./client.js";
import type { PresenceChange } from "./presence.js";
import type { Payload, PresenceEntry, PresenceState, Sender } from "./protocol.js";
import { OrderedState } from "./state.js";
import { canShareTabs, TabGroup } from "./tabs.js";

export { OrderedState } from "./state.js";
export type { PresenceChange } from "./presence.js";
export type { PresenceEntry, PresenceState, Sender } from "./protocol.js";

/**
 * The connection the presence hooks of a page use for one document (one URL): the client of the useRelayState or
 * useRelay hook on that URL while one is mounted, so that a page holds one socket per document; else one of their
 * own, opened once no such hook mounted in the same task (the effects of one render all run in one task, in any
 * order) and closed with the last presence hook. It keeps the page's presence state, for whichever client comes
 * next, and the others as its client last said.
 */
class DocumentPresence {
  private client: RelayClient | null = null;
  private own = false;
  private hooks = 0;
  private mine: PresenceState | null = null;
  others: PresenceEntry[] = [];
  readonly presenceListeners = new Set<(others: PresenceEntry[]) => void>();
  readonly broadcastListeners = new Set<(payload: Payload, from: Sender) => void>();

  constructor(private readonly url: string) {}

  /** The callbacks a client on this document gives connect(), so that its presence reaches the hooks. */
  callbacks(client: () => RelayClient | null): Pick<ConnectOptions, "onPresence" | "onBroadcast"> {
    return {
      onPresence: (others) => {
        if (client() !== this.client) return;
        this.others = others;
        for (const listener of this.presenceListeners) listener(others);
      },
      onBroadcast: (payload, from) => {
        if (client() !== this.client) return;
        for (const listener of this.broadcastListeners) listener(payload, from);
      },
    };
  }

  /** A state hook's client is up: the hooks use it from now on (one they opened for themselves is closed). */
  attach(client: RelayClient): void {
    if (this.own) this.client?.close();
    this.client = client;
    this.own = false;
    this.setOthers(client.others);
    if (this.mine !== null) client.setPresence(this.mine);
  }

  /** A state hook's client is closed: the presence hooks open their own if none is attached again in this task. */
  detach(client: RelayClient): void {
    if (this.client !== client) return;
    this.client = null;
    this.setOthers([]);
    this.ensureSoon();
  }

  /** A presence or broadcast hook mounted; the returned function is its unmount. */
  use(): () => void {
    this.hooks++;
    this.ensureSoon();
    return () => {
      this.hooks--;
      queueMicrotask(() => {
        if (this.hooks > 0 || !this.own) return;
        this.client?.close();
        this.client = null;
        this.own = false;
        this.setOthers([]);
        if (pages.get(this.url) === this) pages.delete(this.url);
      });
    };
  }

  setPresence(state: PresenceState | null): boolean {
    if (this.client && !this.client.setPresence(state)) return false;
    this.mine = state;
    return true;
  }

  broadcast(payload: Payload): boolean {
    return this.client?.broadcast(payload) ?? false;
  }

  private setOthers(others: PresenceEntry[]): void {
    this.others = others;
    for (const listener of this.presenceListeners) listener(others);
  }

  private ensureSoon(): void {
    queueMicrotask(() => {
      if (this.client !== null || this.hooks === 0) return;
      let c: RelayClient | null = null;
      c = connect(this.url, this.callbacks(() => c));
      this.client = c;
      this.own = true;
      if (this.mine !== null) c.setPresence(this.mine);
    });
  }
}

const pages = new Map<string, DocumentPresence>();
function presenceOf(url: string): DocumentPresence {
  let page = pages.get(url);
  if (!page) {
    page = new DocumentPresence(url);
    pages.set(url, page);
  }
  return page;
}

/** One person in the presence list: the tabs (connections) present under one `user`, in the order they joined. */
export interface PresentUser {
  user: string;
  clients: PresenceEntry[];
}

/** The others grouped by user, in the order each user's first tab appears. */
export function groupByUser(others: PresenceEntry[]): PresentUser[] {
  const users = new Map<string, PresentUser>();
  for (const entry of others) {
    const known = users.get(entry.user);
    if (known) known.clients.push(entry);
    else users.set(entry.user, { user: entry.user, clients: [entry] });
  }
  return [...users.values()];
}

/**
 * Who else is on the Relay document at `url`, grouped by user, and a setter for this page's own presence state (a
 * JSON object replaced as a whole; null leaves the list). Rides on the connection of a useRelayState or useRelay
 * hook on the same URL, else opens one of its own. The state is kept across reconnects and announced again by the
 * client. The setter is false when the state is over the server's maxStateBytes.
 */
export function usePresence(url: string): [PresentUser[], (state: PresenceState | null) => boolean] {
  const [others, setOthers] = useState<PresentUser[]>(() => groupByUser(presenceOf(url).others));
  useEffect(() => {
    const page = presenceOf(url);
    const listener = (list: PresenceEntry[]) => setOthers(groupByUser(list));
    page.presenceListeners.add(listener);
    listener(page.others);
    const release = page.use();
    return () => {
      page.presenceListeners.delete(listener);
      release();
    };
  }, [url]);
  const setMine = useCallback((state: PresenceState | null) => presenceOf(url).setPresence(state), [url]);
  return [others, setMine];
}

/**
 * Broadcasts on the Relay document at `url`: `onBroadcast` gets the others' (payload and sender); the returned
 * function sends one to everyone else connected now (false while not connected, or with presence off on the
 * server). Not journaled, not replayed: for cursor moves, typing indicators and the like.
 */
export function useBroadcast(url: string, onBroadcast?: (payload: Payload, from: Sender) => void): (payload: Payload) => boolean {
  const handler = useRef(onBroadcast);
  handler.current = onBroadcast;
  useEffect(() => {
    const page = presenceOf(url);
    const listener = (payload: Payload, from: Sender) => handler.current?.(payload, from);
    page.broadcastListeners.add(listener);
    const release = page.use();
    return () => {
      page.broadcastListeners.delete(listener);
      release();
    };
  }, [url]);
  return useCallback((payload: Payload) => presenceOf(url).broadcast(payload), [url]);
}

/** Connects for a state hook, handing the presence hooks on the same URL its client; the cleanup closes it. */
function connectShared(url: string, options: ConnectOptions): [RelayClient, () => void] {
  const page = presenceOf(url);
  let c: RelayClient | null = null;
  const { onPresence, onBroadcast } = page.callbacks(() => c);
  c = connect(url, {
    ...options,
    onPresence: (others, change: PresenceChange) => {
      onPresence?.(others, change);
      options.onPresence?.(others, change);
    },
    onBroadcast: (payload, from) => {
      onBroadcast?.(payload, from);
      options.onBroadcast?.(payload, from);
    },
  });
  const client = c;
  page.attach(client);
  return [
    client,
    () => {
      client.close();
      page.detach(client);
    },
  ];
}

/**
 * Sends patches to the Relay document at `url` and calls `onPatch` with every other client's patch: a drop-in for
 * the classic `useSocket(url, onMessage)` hook, with reconnects and resends. Returns `send`, which is false when the
 * patch was refused (too many pending; see ConnectOptions.maxPending).
 */
export function useRelay(
  url: string,
  onPatch: (payload: Payload) => void,
  options?: ConnectOptions,
): (payload: Payload) => boolean {
  const client = useRef<RelayClient | null>(null);
  const handler = useRef(onPatch);
  handler.current = onPatch;
  const settings = useRef(options);
  useEffect(() => {
    // Closed in the same task (React StrictMode's cleanup right after the effect), connect() opens no socket; once
    // closed, its callbacks reach neither the app nor the handler.
    let live = true;
    const [c, disconnect] = connectShared(url, {
      ...settings.current,
      onStatus: (status) => {
        if (live) settings.current?.onStatus?.(status);
      },
      onJoin: (join) => {
        if (live) settings.current?.onJoin?.(join);
      },
      onPatch: (payload, info) => {
        if (!live) return;
        if (!info.own) handler.current(payload);
        settings.current?.onPatch?.(payload, info);
      },
      onStop: (stop) => {
        if (live) settings.current?.onStop?.(stop);
      },
      onPresence: (others, change) => {
        if (live) settings.current?.onPresence?.(others, change);
      },
      onBroadcast: (payload, from) => {
        if (live) settings.current?.onBroadcast?.(payload, from);
      },
    });
    client.current = c;
    return () => {
      live = false;
      disconnect();
    };
  }, [url]);
  return useCallback((payload: Payload) => client.current?.send(payload) ?? false, []);
}

/** What useRelayState's connection is doing, for the app to show or act on. */
export interface RelayConnection {
  status: Status;
  protocol: Protocol | null;
  /** The last (re)connection: whether it resumed, or reset (the state was rebuilt from initialState). */
  lastJoin: JoinInfo | null;
  /** Own patches the server has not acknowledged yet. */
  pending: number;
  /** With shareTabs: this tab holds the group's socket. */
  leader?: boolean;
}

/** useRelayState's options: connect()'s, and whether the tabs of the document share one connection. */
export interface RelayStateOptions extends ConnectOptions {
  /**
   * The tabs of this document in this browser profile share one connection (README "Many tabs, one connection"):
   * one tab holds the socket, its outbox persisted in IndexedDB, and the others go through it. Needs Web Locks,
   * BroadcastChannel and IndexedDB; without them each tab connects on its own. The other options' callbacks run
   * in the leading tab only.
   */
  shareTabs?: boolean;
}

/**
 * Shared state through the Relay document at `url`. `update(draft => ...)` changes it locally with Immer and sends
 * the Immer patches (a JSON array, as the classic client does); everyone else's patches are applied as they
 * arrive, in the server's order, own unacknowledged changes staying on top. After a reset the state is rebuilt
 * from `initialState` and what the server sends. `update` is false when the change was refused (too many pending).
 */
export function useRelayState<T>(
  url: string,
  initialState: T,
  options?: RelayStateOptions,
): [T, (recipe: (draft: Draft<T>) => void) => boolean, RelayConnection] {
  const model = useRef<OrderedState<T> | null>(null);
  const group = useRef<TabGroup<T> | null>(null);
  const client = useRef<RelayClient | null>(null);
  const refresh = useRef<() => void>(() => {});
  const initial = useRef(initialState);
  const settings = useRef(options);
  const [state, setState] = useState<T>(initialState);
  const [connection, setConnection] = useState<RelayConnection>({ status: "connecting", protocol: null, lastJoin: null, pending: 0 });

  useEffect(() => {
    if (settings.current?.shareTabs && canShareTabs()) {
      let live = true;
      const guarded = <A extends unknown[]>(callback?: (...args: A) => void) =>
        callback && ((...args: A) => void (live && callback(...args)));
      const app = settings.current;
      const g: TabGroup<T> = new TabGroup(
        url,
        initial.current,
        {
          ...app,
          onStatus: guarded(app.onStatus),
          onJoin: guarded(app.onJoin),
          onPatch: guarded(app.onPatch),
          onStop: guarded(app.onStop),
          onRestore: guarded(app.onRestore),
          onClientId: guarded(app.onClientId),
        },
        () => {
          if (!live) return;
          setState(g.state);
          const { status, protocol, lastJoin, pending, leader } = g.connection;
          setConnection({ status, protocol, lastJoin, pending, leader });
        },
      );
      group.current = g;
      setState(g.state);
      return () => {
        live = false;
        group.current = null;
        g.close();
      };
    }
    const m = new OrderedState(initial.current);
    model.current = m;
    setState(m.current);
    let lastJoin: JoinInfo | null = null;
    const report = () =>
      setConnection({ status: c.status, protocol: c.protocol, lastJoin, pending: c.pending });
    refresh.current = report;
    // A connection this effect's cleanup closed says nothing more, to the app or the state: in StrictMode the
    // first effect's client is closed at once (and, closed in the same task, opens no socket).
    let live = true;
    const [c, disconnect] = connectShared(url, {
      ...settings.current,
      // With persist: the state as the server ordered it is stored with the last sequence number, and a page
      // reopened shows it, with its own unacknowledged changes on top, before the connection is back.
      stateToStore: () => m.confirmed,
      onRestore: (restored) => {
        if (!live) return;
        m.restore(restored.state as T | undefined, restored.pending);
        setState(m.current);
        settings.current?.onRestore?.(restored);
        report();
      },
      onStatus: (status) => {
        if (!live) return;
        settings.current?.onStatus?.(status);
        report();
      },
      onJoin: (join) => {
        if (!live) return;
        lastJoin = join;
        if (join.reset) {
          m.reset();
          setState(m.current);
        }
        settings.current?.onJoin?.(join);
        report();
      },
      onPatch: (payload, info) => {
        if (!live) return;
        m.ordered(payload, info.own);
        setState(m.current);
        settings.current?.onPatch?.(payload, info);
        report();
      },
      onStop: (stop) => {
        if (!live) return;
        settings.current?.onStop?.(stop);
        report();
      },
      onPresence: (others, change) => {
        if (live) settings.current?.onPresence?.(others, change);
      },
      onBroadcast: (payload, from) => {
        if (live) settings.current?.onBroadcast?.(payload, from);
      },
    });
    client.current = c;
    return () => {
      live = false;
      disconnect();
    };
  }, [url]);

  const update = useCallback((recipe: (draft: Draft<T>) => void) => {
    if (group.current) return group.current.update(recipe);
    const m = model.current;
    const c = client.current;
    if (!m || !c) return false;
    const accepted = m.change(recipe, (payload) => c.send(payload));
    if (accepted) setState(m.current);
    refresh.current();
    return accepted;
  }, []);

  return [state, update, connection];
}
