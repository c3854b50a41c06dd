import { useCallback, useEffect, useRef, useState } from "react";
import type { Draft } from "immer";
import { connect, type ConnectOptions, type JoinInfo, type Protocol, type RelayClient, type Status } from "./client.js";
import type { Payload } from "./protocol.js";
import { OrderedState } from "./state.js";
import { canShareTabs, TabGroup } from "./tabs.js";

export { OrderedState } from "./state.js";

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
    const c = connect(url, {
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
    });
    client.current = c;
    return () => {
      live = false;
      c.close();
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
    const c = connect(url, {
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
    });
    client.current = c;
    return () => {
      live = false;
      c.close();
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
