// ClientState on its own: the relay.v1 bookkeeping without a socket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientState, decodeFrame, encodePatch } from "../dist/index.js";

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
