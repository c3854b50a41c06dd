// connect() against a real Gateway process over real sockets: send and receive, acks, resends after a lost
// connection without doubles, reconnects after the Gateway restarts, the bound of the offline queue, and the
// answers a retry cannot fix (HTTP 400, 401 and 403 before the upgrade; 1009), which stop the client for good.
// One Gateway for all (each start costs seconds), with a shared token, allowed origins and a small message limit.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { connect } from "../dist/index.js";
import { ConnectionLog, Gateway, freePort, until } from "./gateway.mjs";
import { recorder } from "./recorder.mjs";

const gateway = new Gateway({
  "Relay:Auth:Token": "a-long-random-secret",
  "Relay:AllowedOrigins:0": "http://app.example",
  "Relay:MaxMessageBytes": "1024",
});
const token = "access_token=a-long-random-secret";
before(() => gateway.start());
after(() => gateway.dispose());

/** Two recorders on `document` that have joined; closed when the test ends. */
async function pair(t, document, options = {}) {
  const url = `${gateway.url}/${document}?${token}`;
  const a = recorder(url, options);
  const b = recorder(url);
  t.after(() => (a.client.close(), b.client.close()));
  await until(() => a.joins.length && b.joins.length, "both to join");
  return [a, b];
}

test("Patches reach the other client once, in order, and come back to their sender as acks", async (t) => {
  const [a, b] = await pair(t, "client/basic");
  assert.equal(a.client.protocol, "relay.v1");
  assert.deepEqual(a.joins[0], { protocol: "relay.v1", resumed: false, reset: false, epoch: a.client.epoch, head: 0 });
  for (const text of ["one", "zäh 🚀", "three"]) assert.ok(a.client.send(text));
  assert.ok(a.client.send(new Uint8Array([0, 10, 255])));

  await until(() => b.patches.length === 4 && a.client.pending === 0, "the patches and their acks");
  assert.deepEqual(b.patches.slice(0, 3), [
    { payload: "one", seq: 1 },
    { payload: "zäh 🚀", seq: 2 },
    { payload: "three", seq: 3 },
  ]);
  assert.deepEqual([...b.patches[3].payload], [0, 10, 255]);
  assert.deepEqual(a.own.map((p) => p.seq), [1, 2, 3, 4]);
  assert.equal(a.patches.length, 0, "a sender never gets its own patch as someone else's");
  assert.equal(a.client.lastSeq, 4);
  assert.equal(b.client.lastSeq, 4);
});

test("The first status is connecting, reported after connect() returns, and open comes once the hello is in", async (t) => {
  const heard = [];
  const joins = [];
  const client = connect(`${gateway.url}/client/status?${token}`, {
    WebSocket,
    onJoin: (join) => joins.push(join),
    // The callback can read the client connect() returned, and what had joined when the status came.
    onStatus: (status) => heard.push({ status, client: client.status, joins: joins.length }),
  });
  t.after(() => client.close());
  assert.deepEqual(heard, [], "nothing is reported before connect() returns");
  assert.equal(client.status, "connecting");
  await until(() => heard.length === 2, "connecting, then open");
  assert.deepEqual(heard, [
    { status: "connecting", client: "connecting", joins: 0 },
    { status: "open", client: "open", joins: 1 },
  ]);
});

test("A client closed in the task that connected it opens no socket, and one connected next is the only connection", async (t) => {
  // React StrictMode's effect, cleanup and effect again, as the hooks run them.
  const wire = new ConnectionLog(gateway.port);
  await wire.start();
  t.after(() => wire.dispose());
  const url = `${wire.url}/client/strict?${token}`;
  const first = recorder(url);
  first.client.close();
  const second = recorder(url);
  t.after(() => second.client.close());
  assert.deepEqual(first.statuses, ["connecting", "closed"], "closed at once: connecting, then closed, in order");
  assert.deepEqual(first.stops.map((s) => s.reason), ["closed"]);
  await until(() => second.joins.length === 1, "the second client to join");
  assert.deepEqual(second.statuses, ["connecting", "open"]);
  assert.equal(first.sockets.length, 0, "the first client created no WebSocket");
  assert.equal(second.sockets.length, 1);
  assert.deepEqual(wire.connections, [{ upgraded: true, closed: false }], "the server saw one connection, upgraded and open");
  assert.ok(second.client.send("after the double effect"));
  await until(() => second.client.pending === 0, "its ack");
  assert.equal((await gateway.status(`client/strict?${token}`)).lastSequence, 1);
});

test("Patches whose acks were lost are resent with their ids after a reconnect and journaled once", async (t) => {
  const [a, b] = await pair(t, "client/resend");
  a.client.send("before");
  await until(() => a.client.pending === 0, "the first ack");

  // The network eats everything the server sends a from now on, then the connection breaks.
  const first = a.sockets[0];
  first.emit = ((emit) => (event, ...args) => (event === "message" ? false : emit.call(first, event, ...args)))(first.emit);
  for (const text of ["p2", "p3", "p4"]) a.client.send(text);
  await until(() => b.patches.length === 4, "b to get every patch");
  assert.equal(a.client.pending, 3, "the acks never arrived");
  first.terminate();

  await until(() => a.joins.length === 2 && a.client.pending === 0, "a to resume and get its acks");
  assert.deepEqual(a.joins[1], { protocol: "relay.v1", resumed: true, reset: false, epoch: a.joins[0].epoch, head: 4 });
  assert.deepEqual(a.own.map((p) => [p.payload, p.seq]), [["before", 1], ["p2", 2], ["p3", 3], ["p4", 4]]);
  a.client.send("p5");
  await until(() => b.patches.length === 5, "the next patch");
  assert.deepEqual(b.patches.map((p) => p.seq), [1, 2, 3, 4, 5], "the resends were not journaled again");
  assert.equal((await gateway.status(`client/resend?${token}`)).lastSequence, 5);
});

test("After the Gateway restarts, clients resume where they were and the offline queue goes out once", async (t) => {
  const [a, b] = await pair(t, "client/restart", { maxPending: 3 });
  a.client.send("one");
  a.client.send("two");
  await until(() => b.patches.length === 2 && a.client.pending === 0, "the first two patches");

  await gateway.kill();
  await until(() => a.client.status === "connecting" && b.client.status === "connecting", "both to notice");
  assert.ok(a.client.send("three"));
  assert.ok(a.client.send("four"));
  assert.ok(a.client.send("five"));
  assert.equal(a.client.send("six"), false, "the queue holds maxPending patches; a fourth is refused, not queued");
  assert.equal(a.client.pending, 3);

  await gateway.start();
  await until(() => b.patches.length === 5 && a.client.pending === 0, "the queued patches", 30_000);
  assert.deepEqual(b.patches.map((p) => p.payload), ["one", "two", "three", "four", "five"]);
  assert.deepEqual(b.patches.map((p) => p.seq), [1, 2, 3, 4, 5]);
  const resumes = (joins) => joins.slice(1).map((j) => j.resumed);
  assert.ok(resumes(a.joins).length >= 1 && resumes(a.joins).every(Boolean), "a resumed");
  assert.ok(resumes(b.joins).length >= 1 && resumes(b.joins).every(Boolean), "b resumed, with no replay");
  assert.equal(b.joins.at(-1).head >= 2, true);
  assert.ok(a.statuses.includes("open") && a.statuses.at(-1) === "open");
});

test("A client whose history was replaced is told to rebuild, and its unacknowledged patches are not lost", async (t) => {
  const [a, b] = await pair(t, "client/reset");
  a.client.send("old");
  await until(() => b.patches.length === 1 && a.client.pending === 0, "the first patch");

  await gateway.kill();
  await until(() => a.client.status === "connecting", "a to notice");
  a.client.send("while down");
  await gateway.restartOnEmptyJournal();
  await until(() => a.joins.length === 2 && b.joins.length === 2 && a.client.pending === 0, "both to rejoin", 30_000);
  for (const { joins } of [a, b]) {
    assert.equal(joins[1].resumed, false);
    assert.equal(joins[1].reset, true, "asked to resume, got a full join: rebuild");
    assert.notEqual(joins[1].epoch, joins[0].epoch);
  }
  await until(() => b.patches.length === 2, "the new history");
  assert.deepEqual(b.patches[1], { payload: "while down", seq: 1 }, "the new history starts at 1, with a's queued patch");
  assert.equal(a.client.lastSeq, 1);
});

/** ws with an Origin header, as a browser page of `origin` would send. */
const from = (origin) =>
  class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { origin });
    }
  };

/** Connects and waits for the client to stop; counts its attempts. */
async function stopped(url, SocketClass) {
  let attempts = 0;
  const Counted = class extends SocketClass {
    constructor(...args) {
      super(...args);
      attempts++;
    }
  };
  const stops = [];
  const client = connect(url, { WebSocket: Counted, minDelay: 50, onStop: (stop) => stops.push(stop) });
  await until(() => stops.length === 1, "the client to stop");
  return { stop: stops[0], client, attempts };
}

test("A document name the server refuses (400) stops the client at once", async () => {
  const { stop, client, attempts } = await stopped(`${gateway.url}/bad//name?${token}`, from("http://app.example"));
  assert.deepEqual([stop.reason, stop.code], ["refused", 400]);
  assert.equal(client.status, "closed");
  assert.equal(attempts, 1);
  assert.equal(client.send("x"), false, "a stopped client takes no patches");
});

test("A missing token (401) and a foreign origin (403) stop the client at once", async () => {
  const unauthenticated = await stopped(`${gateway.url}/doc`, from("http://app.example"));
  assert.deepEqual([unauthenticated.stop.reason, unauthenticated.stop.code, unauthenticated.attempts], ["refused", 401, 1]);
  const foreign = await stopped(`${gateway.url}/doc?${token}`, from("http://evil.example"));
  assert.deepEqual([foreign.stop.reason, foreign.stop.code, foreign.attempts], ["refused", 403, 1]);
});

test("A patch over the server's size limit (1009) stops the client rather than resending it forever", async (t) => {
  const stops = [];
  const joins = [];
  const client = connect(`${gateway.url}/doc?${token}`, {
    WebSocket: from("http://app.example"),
    minDelay: 50,
    onJoin: (join) => joins.push(join),
    onStop: (stop) => stops.push(stop),
  });
  t.after(() => client.close());
  await until(() => joins.length === 1, "the client to join");
  assert.ok(client.send("x".repeat(2000)));
  await until(() => stops.length === 1, "the client to stop");
  assert.deepEqual([stops[0].reason, stops[0].code], ["rejected", 1009]);
  assert.equal(joins.length, 1, "it did not reconnect");
});

test("A page reloaded under the client id it kept loses and doubles nothing: it takes a new id and rebuilds", async (t) => {
  const url = `${gateway.url}/client/reloaded?${token}`;
  const watcher = recorder(url);
  t.after(() => watcher.client.close());
  const before = recorder(url, { clientId: "kept-in-session-storage" });
  await until(() => before.joins.length && watcher.joins.length, "both to join");
  for (let i = 1; i <= 60; i++) before.client.send(`before ${i}`);
  await until(() => before.client.pending === 0 && watcher.patches.length === 60, "the first 60 journaled");
  before.client.close();

  // The reload: the same id, a counter that starts again, no state.
  const renamed = [];
  const after = recorder(url, { clientId: "kept-in-session-storage", onClientId: (id, reason) => renamed.push({ id, reason }) });
  t.after(() => after.client.close());
  for (let i = 1; i <= 60; i++) after.client.send(`after ${i}`);
  await until(() => after.client.pending === 0 && watcher.patches.length === 120, "the next 60 journaled");

  assert.equal(renamed.length, 1);
  assert.match(renamed[0].reason, /patch ids up to 60 under this client id/);
  assert.equal(after.client.clientId, renamed[0].id);
  assert.notEqual(after.client.clientId, "kept-in-session-storage");
  // The page's own earlier patches arrive as patches of the history, so its state has them; its new ones follow.
  assert.deepEqual(after.patches.map((p) => p.payload), Array.from({ length: 60 }, (_, i) => `before ${i + 1}`));
  assert.deepEqual(after.own.map((p) => p.payload), Array.from({ length: 60 }, (_, i) => `after ${i + 1}`));
  assert.deepEqual(
    watcher.patches.map((p) => p.payload),
    [...Array.from({ length: 60 }, (_, i) => `before ${i + 1}`), ...Array.from({ length: 60 }, (_, i) => `after ${i + 1}`)],
  );
  assert.deepEqual(watcher.patches.map((p) => p.seq), Array.from({ length: 120 }, (_, i) => i + 1));
});

test("Two clients that share an id by mistake: one is told and takes a new one, and every patch is journaled once", async (t) => {
  const url = `${gateway.url}/client/twins?${token}`;
  const watcher = recorder(url);
  const renamed = [];
  const first = recorder(url, { clientId: "twin", onClientId: (id) => renamed.push(["first", id]) });
  const second = recorder(url, { clientId: "twin", onClientId: (id) => renamed.push(["second", id]) });
  t.after(() => (watcher.client.close(), first.client.close(), second.client.close()));
  await until(() => watcher.joins.length && first.joins.length && second.joins.length, "all three to join");

  for (let round = 1; round <= 5; round++) {
    first.client.send(`first ${round}`);
    second.client.send(`second ${round}`);
    await until(() => first.client.pending === 0 && second.client.pending === 0, `round ${round} journaled`);
  }

  assert.ok(renamed.length >= 1, "at least one of the two is told");
  const sent = [1, 2, 3, 4, 5].flatMap((r) => [`first ${r}`, `second ${r}`]);
  await until(() => watcher.patches.length >= sent.length, "every patch relayed");
  assert.deepEqual([...watcher.patches.map((p) => p.payload)].sort(), [...sent].sort());
  // Each tab ends up with everything: the other's patches as patches, its own as acks.
  for (const [tab, other] of [[first, "second"], [second, "first"]]) {
    const theirs = tab.patches.map((p) => p.payload).filter((p) => p.startsWith(other));
    assert.deepEqual([...new Set(theirs)].sort(), sent.filter((p) => p.startsWith(other)).sort());
  }
});
