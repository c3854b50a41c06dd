import { applyPatches, enablePatches, produceWithPatches, type Draft, type Patch } from "immer";
import type { Payload } from "./protocol.js";

enablePatches();

/**
 * An Immer state shared through Relay, without React: what useRelayState keeps. `confirmed` is the state as the
 * server ordered the patches; `current` is that plus this client's own changes not acknowledged yet, replayed on
 * top, so every client ends in the same state whatever the interleaving.
 */
export class OrderedState<T> {
  confirmed: T;
  current: T;
  private local: { payload: string; patches: Patch[]; tag?: string }[] = [];

  constructor(private readonly initial: T) {
    this.confirmed = initial;
    this.current = initial;
  }

  /** Applies `recipe` locally and hands its patches to `send`; false (and no change) when `send` refuses them. */
  change(recipe: (draft: Draft<T>) => void, send: (payload: string) => boolean, tag?: string): boolean {
    const [next, patches] = produceWithPatches(this.current, recipe as (draft: Draft<T>) => void);
    if (patches.length === 0) return true;
    const payload = JSON.stringify(patches);
    if (!send(payload)) return false;
    this.local.push(tag === undefined ? { payload, patches } : { payload, patches, tag });
    this.current = next as T;
    return true;
  }

  /**
   * Continues from what a closed page stored: the state as the server had ordered it then (none: the initial one),
   * and its own unacknowledged patches, older than any change made since, on top.
   */
  restore(confirmed: T | undefined, pending: Payload[]): void {
    if (confirmed !== undefined) this.confirmed = confirmed;
    const stored = pending.map((payload) => {
      const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
      return { payload: text, patches: parsePatches(text) };
    });
    this.local = [...stored, ...this.local];
    this.rebase();
  }

  /** A patch at its place in the order: someone else's, or one of ours (acknowledged, or replayed after a reset). */
  ordered(payload: Payload, own: boolean, tag?: string): void {
    const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
    this.confirmed = tryApply(this.confirmed, parsePatches(text));
    if (tag !== undefined) {
      const at = this.local.findIndex((change) => change.tag === tag);
      if (at >= 0) this.local.splice(at, 1);
    } else if (own && this.local.length > 0 && this.local[0].payload === text) this.local.shift();
    this.rebase();
  }

  /** Own unacknowledged changes, oldest first, with their tags (tabs.ts names each by its tab). */
  pendingChanges(): { payload: string; tag?: string }[] {
    return this.local.map(({ payload, tag }) => (tag === undefined ? { payload } : { payload, tag }));
  }

  /**
   * Takes `confirmed` as the state as the server ordered it (a snapshot from another tab, or from storage), keeps
   * the own changes `keep` says are still unacknowledged, and replays them on top.
   */
  adopt(confirmed: T, keep: (tag: string | undefined) => boolean): void {
    this.confirmed = confirmed;
    this.local = this.local.filter((change) => keep(change.tag));
    this.rebase();
  }

  /** Drops an own change that will not be sent (refused), by its tag. */
  drop(tag: string): void {
    this.local = this.local.filter((change) => change.tag !== tag);
    this.rebase();
  }

  /** The server starts over: back to the initial state, own unacknowledged changes on top. */
  reset(): void {
    this.confirmed = this.initial;
    this.rebase();
  }

  private rebase(): void {
    this.current = this.local.reduce((state, change) => tryApply(state, change.patches), this.confirmed);
  }
}

/** Immer patches that no longer fit (another client removed what they change) are left out, as the server order has it. */
function tryApply<T>(state: T, patches: Patch[]): T {
  try {
    return applyPatches(state as object, patches) as T;
  } catch {
    return state;
  }
}

/** A payload's Immer patches; none when it is not a JSON array (a raw relay may carry anything). */
function parsePatches(text: string): Patch[] {
  try {
    const patches: unknown = JSON.parse(text);
    return Array.isArray(patches) ? (patches as Patch[]) : [];
  } catch {
    return [];
  }
}
