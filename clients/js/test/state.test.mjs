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

test("A restored state takes its stored pending changes first; tagged changes settle by tag, and adopt keeps those not yet ordered", () => {
  const state = new OrderedState({ gifts: {} });
  state.change((d) => void (d.gifts.new = { name: "Made before the load" }), () => true);
  state.restore({ gifts: { old: { name: "Stored" } } }, [patch({ op: "add", path: ["gifts", "pending"], value: { name: "Stored, unsent" } })]);
  assert.deepEqual(Object.keys(state.current.gifts), ["old", "pending", "new"]);
  assert.deepEqual(state.confirmed, { gifts: { old: { name: "Stored" } } });

  const tabs = new OrderedState({ n: [] });
  const sent = [];
  tabs.change((d) => void d.n.push(1), (p) => sent.push(p) > 0, "tab:1");
  tabs.change((d) => void d.n.push(2), (p) => sent.push(p) > 0, "tab:2");
  // The second is ordered first (another tab's leader sent it so): it settles by its tag, not by its place.
  tabs.ordered(sent[1], true, "tab:2");
  assert.deepEqual(tabs.pendingChanges().map((c) => c.tag), ["tab:1"]);
  // A snapshot that has the first in it: adopted, with nothing left on top.
  tabs.adopt({ n: [2, 1] }, (tag) => tag !== "tab:1");
  assert.deepEqual(tabs.current, { n: [2, 1] });
  assert.deepEqual(tabs.pendingChanges(), []);
  tabs.change((d) => void d.n.push(3), () => true, "tab:3");
  tabs.drop("tab:3");
  assert.deepEqual(tabs.current, { n: [2, 1] });
});
