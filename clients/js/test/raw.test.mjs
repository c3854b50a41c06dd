// The raw fallback: the original Node.js relay (bench/Relay.Bench/reference/seed-relay.mjs, on ws) echoes the
// subprotocol offered but speaks no relay.v1, so the client speaks raw frames to it: payloads as they are, no ids,
// no resume.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { connect } from "../dist/index.js";
import { SeedRelay, until } from "./gateway.mjs";

const relay = new SeedRelay();
before(() => relay.start());
after(() => relay.dispose());

test("Against the original relay the client falls back to raw frames and still sends, receives and queues", async (t) => {
  const url = `${relay.url}/`;
  const seen = { a: [], b: [], joins: [], statuses: [] };
  // ws servers echo the first subprotocol offered: a, on an empty history, gets no hello and falls back after
  // helloTimeout; b falls back at once, since its first frame is a patch of the history, not a hello.
  const a = connect(url, {
    WebSocket,
    minDelay: 50,
    helloTimeout: 500,
    onStatus: (status) => seen.statuses.push([status, a.protocol]),
    onJoin: (join) => seen.joins.push(join),
    onPatch: (p, info) => info.own || seen.a.push(p),
  });
  // Queued before the socket is open: written once it is.
  assert.ok(a.send("early"));
  await until(() => a.protocol === "raw" && a.pending === 0, "a to fall back to raw frames and write its patch");
  const b = connect(url, { WebSocket, minDelay: 50, onPatch: (p, info) => info.own || seen.b.push(p) });
  t.after(() => (a.close(), b.close()));
  await until(() => b.protocol === "raw", "b to fall back to raw frames");
  assert.deepEqual(seen.joins[0], { protocol: "raw", resumed: false, reset: false, epoch: null, head: null });
  // Open only once it speaks raw frames: the socket that opened with relay.v1 and sent no hello had not joined.
  assert.deepEqual(seen.statuses, [["connecting", null], ["open", "raw"]]);
  await until(() => seen.b.includes("early"), "the queued patch");
  b.send("from b");
  a.send("from a");
  await until(() => seen.a.includes("from b") && seen.b.includes("from a"), "both patches");
  assert.deepEqual(seen.b, ["early", "from a"], "raw payloads, byte for byte, no header");
  assert.equal(a.pending, 0, "raw frames have no acks: written means done");
});
