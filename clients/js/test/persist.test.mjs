// connect() with persist (a memoryStorage: one browser profile, its clients the tabs) against a real Gateway: a
// client closed with patches unsent, or with patches journaled whose acks it never got, is continued by the next
// client of the same storage under the same id, and each patch is journaled once; two live clients never share
// one stored outbox.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { memoryStorage } from "../dist/index.js";
import { Gateway, until } from "./gateway.mjs";
import { recorder } from "./recorder.mjs";

const gateway = new Gateway();
before(() => gateway.start());
after(() => gateway.dispose());

const payloads = (list) => list.map((p) => p.payload);
const seqs = (list) => list.map((p) => p.seq);

test("Patches queued while the server is down survive a client closed right after sending them: the next client sends them once", async (t) => {
  const url = `${gateway.url}/persist/offline`;
  const storage = memoryStorage();
  const watcher = recorder(url);
  const first = recorder(url, { persist: storage });
  t.after(() => (watcher.client.close(), first.client.close()));
  await until(() => watcher.joins.length && first.joins.length, "both to join");
  assert.deepEqual(first.restored.map((r) => r.pending), [[]], "a fresh record: nothing to continue");
  first.client.send("one");
  await until(() => first.client.pending === 0 && watcher.patches.length === 1, "the first patch");

  await gateway.kill();
  await until(() => first.client.status === "connecting", "the client to notice");
  assert.ok(first.client.send("two"));
  assert.ok(first.client.send("three"));
  first.client.close(); // in the same task as the sends
  const id = first.client.clientId;

  await gateway.start();
  const next = recorder(url, { persist: storage });
  t.after(() => next.client.close());
  await until(() => next.restored.length === 1, "the stored outbox to load");
  assert.equal(next.restored[0].clientId, id, "it continues the closed client's id");
  assert.deepEqual(next.restored[0].pending, ["two", "three"]);
  assert.equal(next.restored[0].lastSeq, 1);
  assert.equal(next.client.pending, 2);
  await until(() => next.client.pending === 0 && watcher.patches.length === 3, "the stored patches journaled", 30_000);
  assert.deepEqual(payloads(watcher.patches), ["one", "two", "three"]);
  assert.deepEqual(seqs(watcher.patches), [1, 2, 3]);
  assert.deepEqual(next.joins.map((j) => j.resumed), [true], "it resumed after the stored sequence number");
  assert.deepEqual(next.own, [{ payload: "two", seq: 2 }, { payload: "three", seq: 3 }]);
  assert.deepEqual(next.renames, [], "its own resends were not taken for another writer's");
  next.client.send("four");
  await until(() => watcher.patches.length === 4, "a new patch after them");
  assert.equal((await gateway.status("persist/offline")).lastSequence, 4);
});

test("A stored outbox the server partly journaled (acks lost, then more patches offline) is resent and journaled once, under the same id", async (t) => {
  const url = `${gateway.url}/persist/partly`;
  const storage = memoryStorage();
  const watcher = recorder(url);
  const first = recorder(url, { persist: storage });
  t.after(() => (watcher.client.close(), first.client.close()));
  await until(() => watcher.joins.length && first.joins.length, "both to join");

  // The network eats everything the server sends the first client from now on: its patches are journaled, their
  // acks never arrive.
  const socket = first.sockets[0];
  socket.emit = ((emit) => (event, ...args) => (event === "message" ? false : emit.call(socket, event, ...args)))(socket.emit);
  for (const text of ["p1", "p2", "p3"]) first.client.send(text);
  await until(() => watcher.patches.length === 3, "the watcher to get the three");
  assert.equal(first.client.pending, 3);
  await gateway.kill();
  await until(() => first.client.status === "connecting", "the client to notice");
  first.client.send("p4");
  first.client.send("p5");
  first.client.close();

  await gateway.start();
  const next = recorder(url, { persist: storage });
  t.after(() => next.client.close());
  await until(() => next.restored.length === 1, "the stored outbox to load");
  assert.deepEqual(next.restored[0].pending, ["p1", "p2", "p3", "p4", "p5"]);
  assert.equal(next.client.clientId, first.client.clientId);
  await until(() => next.client.pending === 0 && watcher.patches.length === 5, "every patch journaled", 30_000);
  // The hello's lastId (3) is within what the stored counter says was written: its own, not another writer's.
  assert.deepEqual(next.renames, []);
  assert.deepEqual(payloads(watcher.patches), ["p1", "p2", "p3", "p4", "p5"]);
  assert.deepEqual(seqs(watcher.patches), [1, 2, 3, 4, 5]);
  assert.deepEqual(next.own.map((p) => [p.payload, p.seq]), [["p1", 1], ["p2", 2], ["p3", 3], ["p4", 4], ["p5", 5]]);
  assert.equal((await gateway.status("persist/partly")).lastSequence, 5, "each journaled once");
});

test("Two live clients of one storage keep outboxes of their own, and a closed one's is continued by the next client", async (t) => {
  const url = `${gateway.url}/persist/tabs`;
  const storage = memoryStorage();
  const watcher = recorder(url);
  const one = recorder(url, { persist: storage });
  const two = recorder(url, { persist: storage });
  t.after(() => (watcher.client.close(), one.client.close(), two.client.close()));
  await until(() => watcher.joins.length && one.joins.length && two.joins.length, "all three to join");
  assert.notEqual(one.client.clientId, two.client.clientId, "the second did not take the first one's record");

  // A third asks for the id the first holds: it is a live client's, so the third takes another.
  const asking = recorder(url, { persist: storage, clientId: one.client.clientId });
  t.after(() => asking.client.close());
  await until(() => asking.joins.length === 1, "the third to join");
  assert.notEqual(asking.client.clientId, one.client.clientId);
  assert.equal(asking.renames.length, 1, "and says so through onClientId");
  asking.client.close();

  await gateway.kill();
  await until(() => one.client.status === "connecting" && two.client.status === "connecting", "both to notice");
  one.client.send("from one");
  two.client.send("from two");
  one.client.close();
  two.client.close();

  await gateway.start();
  const next = [recorder(url, { persist: storage }), recorder(url, { persist: storage })];
  t.after(() => next.forEach((c) => c.client.close()));
  await until(() => next.every((c) => c.restored.length === 1), "both stored outboxes to be claimed");
  assert.deepEqual(next.map((c) => c.client.clientId).sort(), [one.client.clientId, two.client.clientId].sort());
  assert.deepEqual(next.flatMap((c) => c.restored[0].pending).sort(), ["from one", "from two"]);
  await until(() => watcher.patches.length === 2 && next.every((c) => c.client.pending === 0), "both patches journaled", 30_000);
  assert.deepEqual(payloads(watcher.patches).sort(), ["from one", "from two"]);
  assert.equal((await gateway.status("persist/tabs")).lastSequence, 2);
});

test("A persisting client given an id another writer holds renames, stores its outbox under the new id, and journals each patch once", async (t) => {
  const url = `${gateway.url}/persist/renamed`;
  const other = recorder(url, { clientId: "kept-elsewhere" });
  t.after(() => other.client.close());
  await until(() => other.joins.length === 1, "the other writer to join");
  for (const text of ["o1", "o2", "o3"]) other.client.send(text);
  await until(() => other.client.pending === 0, "the other writer's patches");
  other.client.close();

  const storage = memoryStorage();
  const mine = recorder(url, { persist: storage, clientId: "kept-elsewhere" });
  t.after(() => mine.client.close());
  mine.client.send("m1");
  mine.client.send("m2");
  await until(() => mine.client.pending === 0 && mine.patches.length === 3, "its patches, under a new id", 30_000);
  assert.equal(mine.renames.length, 1);
  assert.match(mine.renames[0].reason, /patch ids up to 3/);
  assert.deepEqual(payloads(mine.own), ["m1", "m2"]);
  assert.equal((await gateway.status("persist/renamed")).lastSequence, 5);
  mine.client.close();

  // The storage holds one outbox, under the new id: the next client continues it, with nothing to resend.
  const next = recorder(url, { persist: storage });
  t.after(() => next.client.close());
  await until(() => next.joins.length === 1, "the next client to join");
  assert.equal(next.client.clientId, mine.renames[0].id);
  assert.deepEqual(next.restored[0].pending, []);
  assert.equal(next.restored[0].lastSeq, 5);
  assert.deepEqual(next.joins[0].resumed, true);
  assert.deepEqual(next.renames, []);
  next.client.send("m3");
  await until(() => next.client.pending === 0, "its next patch");
  assert.equal((await gateway.status("persist/renamed")).lastSequence, 6);
});

test("A client stopped for a patch the server refuses (1009) lets its stored outbox go: the next client is not stopped by it again", async (t) => {
  const strict = new Gateway({ "Relay:MaxMessageBytes": "1024" });
  await strict.start();
  t.after(() => strict.dispose());
  const url = `${strict.url}/persist/refused`;
  const storage = memoryStorage();
  const first = recorder(url, { persist: storage });
  t.after(() => first.client.close());
  await until(() => first.joins.length === 1, "the client to join");
  first.client.send("x".repeat(2000));
  await until(() => first.stops.length === 1, "the client to stop");
  assert.deepEqual([first.stops[0].reason, first.stops[0].code], ["rejected", 1009]);
  assert.equal(first.client.pending, 1, "the refused patch is still counted, unsent");

  // Its claim is given up at the stop, without a close(): the next client continues its id, without the patch.
  const next = recorder(url, { persist: storage });
  t.after(() => next.client.close());
  await until(() => next.joins.length === 1, "the next client to join");
  assert.equal(next.client.clientId, first.client.clientId);
  assert.deepEqual(next.restored[0].pending, []);
  next.client.send("small");
  await until(() => next.client.pending === 0, "its patch");
  assert.deepEqual(next.stops, []);
  assert.equal((await strict.status("persist/refused")).lastSequence, 1);
});
