// ClientState on its own: the relay.v1 bookkeeping without a socket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientState, OwnPresence, PING_FRAME, PresenceList, decodeFrame, encodeBroadcast, encodePatch, encodePresence } from "../dist/index.js";

const limits = { maxPending: 3, maxPendingBytes: 1024, retainAcked: 10 };
const hello = (epoch, head, resumed) => ({ type: "hello", document: "d", epoch, head, resumed });

test("Frames carry the header, a newline and the payload, text or bytes", () => {
  assert.equal(encodePatch(7, "[1]"), '{"id":7}\n[1]');
  const binary = encodePatch(8, new Uint8Array([1, 10, 2]));
  assert.deepEqual([...binary], [...new TextEncoder().encode('{"id":8}\n'), 1, 10, 2]);
  assert.deepEqual(decodeFrame('{"type":"patch","seq":3}\n{"a":"x\\ny"}'), { type: "patch", seq: 3, payload: '{"a":"x\\ny"}' });
  const bytes = new Uint8Array([...new TextEncoder().encode('{"type":"patch","seq":4}\n'), 10, 0]);
  assert.deepEqual([...decodeFrame(bytes).payload], [10, 0]);
  assert.deepEqual(decodeFrame('{"type":"later","x":1}'), { type: "unknown" });
});

test("An ack confirms its id and every lower one, and a full join may start with a seq jump", () => {
  const state = new ClientState(limits);
  state.connecting(false);
  assert.deepEqual(state.receive(hello("00000000000000aa", 40, false)), { kind: "join", resumed: false, reset: false, epoch: "00000000000000aa", head: 40 });
  // A snapshot: the first patch after the hello is 40, not 1.
  assert.equal(state.receive({ type: "patch", seq: 40, payload: "[]" }).kind, "patch");
  assert.equal(state.lastSeq, 40);
  for (const p of ["a", "b", "c"]) assert.ok(state.add(p));
  assert.equal(state.add("d"), null, "a fourth pending patch is over maxPending");
  assert.equal(state.takeUnsent().length, 3);
  assert.deepEqual(state.receive({ type: "ack", id: 2, seq: 42 }), { kind: "patch", seq: 42, payload: "b", own: true });
  assert.equal(state.pendingCount, 1);
  assert.equal(state.receive({ type: "patch", seq: 42, payload: "again" }).kind, "none", "a repeated seq is dropped");
  assert.deepEqual(state.resumeQuery(), { after: 42, epoch: "00000000000000aa" });
});

test("A reconnect resends the unacknowledged patches with their ids; a refused resume is a reset", () => {
  const state = new ClientState(limits);
  state.connecting(false);
  state.receive(hello("00000000000000aa", 0, false));
  state.add("a");
  state.add("b");
  state.takeUnsent();
  state.receive({ type: "ack", id: 1, seq: 1 });
  state.connecting(true);
  assert.deepEqual(state.takeUnsent(), ['{"id":2}\nb']);
  state.connecting(true);
  const join = state.receive(hello("00000000000000bb", 5, false));
  assert.equal(join.reset, true);
  assert.equal(state.lastSeq, 0);
  // The new history acknowledges patch 1 again: its payload was kept to rebuild.
  assert.deepEqual(state.receive({ type: "ack", id: 1, seq: 3 }), { kind: "patch", seq: 3, payload: "a", own: true });
});

test("An ack of an id the client never wrote, or a hello whose lastId is past what it wrote, says the id is shared", () => {
  const state = new ClientState({ maxPending: 10, maxPendingBytes: 1000, retainAcked: 10 });
  state.connecting(false);
  assert.deepEqual(state.receive({ type: "hello", document: "d", epoch: "e", head: 0, resumed: false, lastId: 0 }).kind, "join");
  state.add("a");
  state.takeUnsent();
  assert.equal(state.receive({ type: "ack", id: 1, seq: 1 }).kind, "patch");
  assert.equal(state.receive({ type: "ack", id: 2, seq: 2 }).kind, "shared");

  const reloaded = new ClientState({ maxPending: 10, maxPendingBytes: 1000, retainAcked: 10 });
  reloaded.connecting(false);
  reloaded.add("x");
  assert.equal(reloaded.receive({ type: "hello", document: "d", epoch: "e", head: 60, resumed: false, lastId: 60 }).kind, "shared");
  reloaded.startOverUnderNewName();
  reloaded.connecting(false);
  const join = reloaded.receive({ type: "hello", document: "d", epoch: "e", head: 60, resumed: false, lastId: 0 });
  assert.equal(join.kind, "join");
  assert.equal(join.reset, true);
  assert.deepEqual(reloaded.takeUnsent(), ['{"id":1}\nx']);
});

test("Presence frames: a state or an empty payload to clear, a broadcast of either type, a ping without payload", () => {
  assert.equal(encodePresence({ name: "Anna", cursor: [3, 5] }), '{"type":"presence"}\n{"name":"Anna","cursor":[3,5]}');
  assert.equal(encodePresence(null), '{"type":"presence"}\n');
  assert.equal(encodeBroadcast('{"x":1}'), '{"type":"broadcast"}\n{"x":1}');
  assert.deepEqual([...encodeBroadcast(new Uint8Array([10, 0]))], [...new TextEncoder().encode('{"type":"broadcast"}\n'), 10, 0]);
  assert.equal(PING_FRAME, '{"type":"ping"}');
});

test("A hello names the presence id and limits when presence is on, and the server's presence frames decode", () => {
  const on = decodeFrame('{"type":"hello","document":"gifts","epoch":"e","head":57,"resumed":true,"client":"Zq3x9_tab1","presence":{"timeoutSeconds":10,"maxStateBytes":4096,"maxUpdatesPerSecond":20}}');
  assert.equal(on.client, "Zq3x9_tab1");
  assert.deepEqual(on.presence, { timeoutSeconds: 10, maxStateBytes: 4096, maxUpdatesPerSecond: 20 });
  const off = decodeFrame('{"type":"hello","document":"gifts","epoch":"e","head":0,"resumed":false}');
  assert.equal("presence" in off, false);
  assert.deepEqual(decodeFrame('{"type":"present","clients":[{"client":"c1","user":"anna","state":{"a":1}}]}'), {
    type: "present",
    clients: [{ client: "c1", user: "anna", state: { a: 1 } }],
  });
  assert.deepEqual(decodeFrame('{"type":"presence","event":"updated","client":"c1","user":"anna","state":{"a":2}}'), {
    type: "presence",
    event: "updated",
    client: "c1",
    user: "anna",
    state: { a: 2 },
  });
  assert.deepEqual(decodeFrame('{"type":"presence","event":"left","client":"c1","user":"anna"}'), { type: "presence", event: "left", client: "c1", user: "anna" });
  assert.deepEqual(decodeFrame('{"type":"presence","event":"later","client":"c1","user":"anna"}'), { type: "unknown" });
  assert.deepEqual(decodeFrame('{"type":"broadcast","client":"c2","user":"ben"}\nhi\nthere'), { type: "broadcast", client: "c2", user: "ben", payload: "hi\nthere" });
  const binary = decodeFrame(new Uint8Array([...new TextEncoder().encode('{"type":"broadcast","client":"c2","user":"ben"}\n'), 1, 10]));
  assert.deepEqual([...binary.payload], [1, 10]);
});

test("The list of others: joins in order, updates in place, leaves, and a present frame or a new connection replaces it", () => {
  const list = new PresenceList();
  assert.equal(list.clear(), null, "an empty list stays quiet");
  assert.deepEqual(list.apply({ type: "presence", event: "joined", client: "c1", user: "anna", state: { a: 1 } }), { type: "joined", client: "c1", user: "anna", state: { a: 1 } });
  list.apply({ type: "presence", event: "joined", client: "c2", user: "ben", state: {} });
  assert.equal(list.apply({ type: "presence", event: "updated", client: "c1", user: "anna", state: { a: 2 } }).type, "updated");
  assert.deepEqual(list.list.map((e) => [e.client, e.state]), [["c1", { a: 2 }], ["c2", {}]]);
  // An update of a client not listed (its join was dropped before a resync) is a join.
  assert.equal(list.apply({ type: "presence", event: "updated", client: "c3", user: "anna", state: {} }).type, "joined");
  assert.deepEqual(list.apply({ type: "presence", event: "left", client: "c2", user: "ben" }), { type: "left", client: "c2", user: "ben" });
  assert.equal(list.apply({ type: "presence", event: "left", client: "c2", user: "ben" }), null, "a second leave changes nothing");
  assert.deepEqual(list.apply({ type: "present", clients: [{ client: "c9", user: "cy", state: { z: 1 } }] }), { type: "resync" });
  assert.deepEqual(list.list, [{ client: "c9", user: "cy", state: { z: 1 } }]);
  assert.deepEqual(list.clear(), { type: "resync" });
  assert.deepEqual(list.list, []);
});

test("Own presence: sent once per connection, again after a reconnect, at most maxUpdatesPerSecond with the latest winning", () => {
  const mine = new OwnPresence();
  const limits = { timeoutSeconds: 9, maxStateBytes: 32, maxUpdatesPerSecond: 4 };
  assert.ok(mine.set({ at: 1 }));
  assert.equal(mine.due(0), null, "nothing goes out before a join");
  mine.joined(limits);
  assert.equal(mine.pingInterval(), 3000);
  assert.deepEqual(mine.due(1000), { frame: '{"type":"presence"}\n{"at":1}' });
  assert.ok(mine.present);
  assert.equal(mine.due(1001), null, "the server holds it already");
  mine.set({ at: 2 });
  mine.set({ at: 3 });
  assert.deepEqual(mine.due(1100), { wait: 150 }, "a quarter second after the last");
  assert.deepEqual(mine.due(1250), { frame: '{"type":"presence"}\n{"at":3}' }, "the latest state, not the one in between");
  assert.equal(mine.set({ text: "far over thirty-two bytes of JSON" }), false, "over maxStateBytes: not taken");
  assert.deepEqual(mine.state, { at: 3 });
  assert.throws(() => mine.set([1, 2]), TypeError);

  mine.left();
  assert.equal(mine.present, false);
  mine.joined(limits);
  assert.deepEqual(mine.due(1300), { frame: '{"type":"presence"}\n{"at":3}' }, "a new connection gets it again, at once");
  mine.set(null);
  assert.deepEqual(mine.due(2000), { frame: '{"type":"presence"}\n' });
  assert.equal(mine.present, false);
  mine.left();
  mine.joined(limits);
  assert.equal(mine.due(3000), null, "a cleared state is nothing to announce");

  // A server with presence off, or one with a smaller limit than the state set before the join.
  mine.set({ at: 4 });
  mine.left();
  mine.joined(null);
  assert.equal(mine.due(4000), null);
  assert.equal(mine.pingInterval(), null);
  mine.left();
  assert.equal(mine.joined({ ...limits, maxStateBytes: 4 }), false);
  assert.equal(mine.state, null);
});

test("usePresence's others come grouped by user, in the order each user's first tab appeared", async () => {
  const { groupByUser } = await import("../dist/react.js");
  const entry = (client, user) => ({ client, user, state: { client } });
  assert.deepEqual(groupByUser([entry("a1", "anna"), entry("b1", "ben"), entry("a2", "anna")]), [
    { user: "anna", clients: [entry("a1", "anna"), entry("a2", "anna")] },
    { user: "ben", clients: [entry("b1", "ben")] },
  ]);
  assert.deepEqual(groupByUser([]), []);
});
