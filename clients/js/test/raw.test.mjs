// The raw fallback: the original Node.js relay (bench/Relay.Bench/reference/seed-relay.mjs, on ws) selects no
// subprotocol, so the client speaks raw frames to it: payloads as they are, no ids, no resume.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { connect } from "../dist/index.js";
import { freePort, until } from "./gateway.mjs";

const here = dirname(fileURLToPath(import.meta.url));
// Under node_modules, so that the relay's `import "ws"` finds this package's ws.
const folder = join(here, "../node_modules/.cache/seed-relay");
let relay;
let port;

before(async () => {
  mkdirSync(folder, { recursive: true });
  copyFileSync(resolve(here, "../../../bench/Relay.Bench/reference/seed-relay.mjs"), join(folder, "seed-relay.mjs"));
  port = await freePort();
  relay = spawn("node", ["seed-relay.mjs"], { cwd: folder, env: { ...process.env, PORT: String(port) } });
  let output = "";
  relay.stdout.on("data", (chunk) => (output += chunk));
  await until(() => output.includes("listening"), "the seed relay to listen");
});
after(() => {
  relay.kill();
  rmSync(folder, { recursive: true, force: true });
});

test("Against the original relay the client falls back to raw frames and still sends, receives and queues", async (t) => {
  const url = `ws://127.0.0.1:${port}/`;
  const seen = { a: [], b: [], joins: [] };
  // ws servers echo the first subprotocol offered: a, on an empty history, gets no hello and falls back after
  // helloTimeout; b falls back at once, since its first frame is a patch of the history, not a hello.
  const a = connect(url, { WebSocket, minDelay: 50, helloTimeout: 500, onJoin: (join) => seen.joins.push(join), onPatch: (p, info) => info.own || seen.a.push(p) });
  // Queued before the socket is open: written once it is.
  assert.ok(a.send("early"));
  await until(() => a.protocol === "raw" && a.pending === 0, "a to fall back to raw frames and write its patch");
  const b = connect(url, { WebSocket, minDelay: 50, onPatch: (p, info) => info.own || seen.b.push(p) });
  t.after(() => (a.close(), b.close()));
  await until(() => b.protocol === "raw", "b to fall back to raw frames");
  assert.deepEqual(seen.joins[0], { protocol: "raw", resumed: false, reset: false, epoch: null, head: null });
  await until(() => seen.b.includes("early"), "the queued patch");
  b.send("from b");
  a.send("from a");
  await until(() => seen.a.includes("from b") && seen.b.includes("from a"), "both patches");
  assert.deepEqual(seen.b, ["early", "from a"], "raw payloads, byte for byte, no header");
  assert.equal(a.pending, 0, "raw frames have no acks: written means done");
});
