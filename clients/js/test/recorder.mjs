// A connect() client on `ws` that records what it gets, for the tests against a real Gateway: patches (others' and
// its own acks), joins, statuses, stops, renames and what it restored; `sockets` are its WebSockets, so a test can
// cut one. Callbacks in `options` are called too.
import WebSocket from "ws";
import { connect } from "../dist/index.js";

export function recorder(url, options = {}) {
  const seen = { patches: [], own: [], joins: [], statuses: [], stops: [], renames: [], restored: [], sockets: [] };
  class Recorded extends WebSocket {
    constructor(...args) {
      super(...args);
      seen.sockets.push(this);
    }
  }
  seen.client = connect(url, {
    WebSocket: Recorded,
    minDelay: 100,
    maxDelay: 1000,
    ...options,
    onPatch: (payload, info) => (info.own ? seen.own : seen.patches).push({ payload, seq: info.seq }),
    onJoin: (join) => seen.joins.push(join),
    onStatus: (status) => seen.statuses.push(status),
    onStop: (stop) => seen.stops.push(stop),
    onClientId: (id, reason) => {
      seen.renames.push({ id, reason });
      options.onClientId?.(id, reason);
    },
    onRestore: (restored) => seen.restored.push(restored),
  });
  return seen;
}
