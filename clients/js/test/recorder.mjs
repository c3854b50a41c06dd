// A connect() client on `ws` that records what it gets, for the tests against a real Gateway: patches (others' and
// its own acks), joins, statuses, stops, renames, what it restored, presence changes and broadcasts; `sockets` are
// its WebSockets, so a test can cut one, and `sent` every frame it wrote. Callbacks in `options` are called too.
import WebSocket from "ws";
import { connect } from "../dist/index.js";

export function recorder(url, options = {}) {
  const seen = { patches: [], own: [], joins: [], statuses: [], stops: [], renames: [], restored: [], sockets: [], sent: [], presence: [], broadcasts: [] };
  class Recorded extends WebSocket {
    constructor(...args) {
      super(...args);
      seen.sockets.push(this);
    }

    send(data, ...rest) {
      seen.sent.push(typeof data === "string" ? data : Buffer.from(data).toString("latin1"));
      return super.send(data, ...rest);
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
    onPresence: (others, change) => seen.presence.push({ others, change }),
    onBroadcast: (payload, from) => seen.broadcasts.push({ payload, from }),
  });
  return seen;
}
