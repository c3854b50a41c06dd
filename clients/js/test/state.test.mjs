// OrderedState, useRelayState's model, on its own: own changes show at once and settle at their place in the
// server's order; everyone converges on that order, snapshots and resets included.
import assert from "node:assert/strict";
import { test } from "node:test";
import { OrderedState } from "../dist/react.js";

const patch = (...patches) => JSON.stringify(patches);

test("An own change shows at once and, once acknowledged, sits where the server ordered it", () => {
  const sent = [];
  const state = new OrderedState({ gifts: {} });
  assert.ok(state.change((d) => void (d.gifts.a = { name: "Socks" }), (p) => sent.push(p) > 0));
  assert.deepEqual(state.current, { gifts: { a: { name: "Socks" } } });
  assert.deepEqual(state.confirmed, { gifts: {} });
  // Someone else's patch was ordered first: the own change stays on top of it.
  state.ordered(patch({ op: "add", path: ["gifts", "b"], value: { name: "Book" } }), false);
  assert.deepEqual(Object.keys(state.current.gifts), ["b", "a"]);
  state.ordered(sent[0], true);
  assert.deepEqual(state.confirmed, state.current);
});

test("A refused send leaves the state as it was", () => {
  const state = new OrderedState({ n: 0 });
  assert.equal(state.change((d) => void (d.n = 1), () => false), false);
  assert.deepEqual(state.current, { n: 0 });
});

test("An own change to what someone else removed first is left out, as on every other client", () => {
  const sent = [];
  const state = new OrderedState({ gifts: { a: { reserved: false } } });
  state.change((d) => void (d.gifts.a.reserved = true), (p) => sent.push(p) > 0);
  state.ordered(patch({ op: "remove", path: ["gifts", "a"] }), false);
  assert.deepEqual(state.current, { gifts: {} });
  state.ordered(sent[0], true);
  assert.deepEqual(state.current, { gifts: {} });
});

test("A snapshot's root replace and a reset rebuild the state, own pending changes kept on top", () => {
  const state = new OrderedState({ gifts: {} });
  state.change((d) => void (d.gifts.mine = 1), () => true);
  state.ordered(patch({ op: "replace", path: [], value: { gifts: { old: 1 } } }), false);
  assert.deepEqual(state.current, { gifts: { old: 1, mine: 1 } });
  state.reset();
  assert.deepEqual(state.confirmed, { gifts: {} });
  assert.deepEqual(state.current, { gifts: { mine: 1 } });
  state.ordered("not a patch", false);
  assert.deepEqual(state.current, { gifts: { mine: 1 } });
});
