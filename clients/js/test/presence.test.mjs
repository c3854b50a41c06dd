// Presence and broadcasts (docs/protocol.md, "Presence and broadcasts") against real Gateway processes: clients see
// each other's state, grouped by user; updates replace it; a cleared state, a closed client and a silent one leave;
// broadcasts reach the others as sent; an idle present client holds its lease with pings; after the Gateway
// restarts, every client announces its state again by itself. A Gateway with presence off sends no presence in its
// hello, and a client sends no presence frame to it.
// The tests that need the server's presence support run only against a build that has it (its /metrics names
// relay_presence_clients); against an older build they are skipped, saying so.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { Gateway, gatewayDll, until } from "./gateway.mjs";
import { recorder } from "./recorder.mjs";

const gateway = new Gateway({ "Relay:Presence:TimeoutSeconds": "3" });
const off = new Gateway({ "Relay:Presence:Enabled": "false" });
let speaksPresence = false;
before(async () => {
  await Promise.all([gateway.start(), off.start()]);
  speaksPresence = await gateway.speaksPresence();
});
after(() => Promise.all([gateway.dispose(), off.dispose()]));

const needsPresence = (t) => {
  if (speaksPresence) return false;
  t.skip(`the Gateway build ${gatewayDll} has no presence (no relay_presence_clients in /metrics)`);
  return true;
};

/** A recorder on `document` of `server` as `user`, closed when the test ends. */
function join(t, document, user, server = gateway, options = {}) {
  const seen = recorder(`${server.url}/${document}?user=${user}`, options);
  t.after(() => seen.client.close());
  return seen;
}

const joined = (...clients) => until(() => clients.every((c) => c.joins.length > 0), "every client to join");
/** What `seen` lists of the others: client id to user and state. */
const listed = (seen) => Object.fromEntries(seen.client.others.map((e) => [e.client, { user: e.user, state: e.state }]));
const changesOf = (seen, client) => seen.presence.map((p) => p.change).filter((c) => c.client === client);

test("Clients see each other's presence with their users; an update replaces the state; a cleared state leaves the list", async (t) => {
  if (needsPresence(t)) return;
  const anna = join(t, "presence/basic", "anna");
  const ben = join(t, "presence/basic", "ben");
  await joined(anna, ben);
  assert.equal(anna.client.presenceLimits.timeoutSeconds, 3);
  assert.ok(anna.client.presenceId);
  assert.deepEqual(anna.client.others, [], "nobody is present yet");

  assert.ok(anna.client.setPresence({ name: "Anna", hovering: null }));
  const a = anna.client.presenceId;
  await until(() => listed(ben)[a], "ben to see anna");
  assert.deepEqual(listed(ben)[a], { user: "anna", state: { name: "Anna", hovering: null } });
  assert.deepEqual(changesOf(ben, a)[0], { type: "joined", client: a, user: "anna", state: { name: "Anna", hovering: null } });

  // A second tab of anna's joins later: the list it gets first holds anna's first tab, and ben once he is present.
  ben.client.setPresence({ name: "Ben" });
  const b = ben.client.presenceId;
  await until(() => listed(anna)[b], "anna to see ben");
  const tab = join(t, "presence/basic", "anna");
  await until(() => tab.client.others.length === 2, "the second tab to get the list");
  assert.deepEqual(listed(tab), { [a]: { user: "anna", state: { name: "Anna", hovering: null } }, [b]: { user: "ben", state: { name: "Ben" } } });
  assert.equal(tab.presence[0].change.type, "resync", "the list comes whole, in one present frame");
  tab.client.setPresence({ name: "Anna", tab: 2 });
  await until(() => ben.client.others.length === 2, "ben to see both of anna's tabs");
  assert.deepEqual(ben.client.others.map((e) => e.user).sort(), ["anna", "anna"]);

  anna.client.setPresence({ name: "Anna", hovering: "gift-3" });
  await until(() => listed(ben)[a]?.state.hovering === "gift-3", "ben to see anna's update");
  assert.equal(changesOf(ben, a).at(-1).type, "updated");

  anna.client.setPresence(null);
  await until(() => !listed(ben)[a] && !listed(tab)[a], "anna's first tab to leave both lists");
  assert.deepEqual(changesOf(ben, a).at(-1), { type: "left", client: a, user: "anna" });
  // Still connected: its patches go on as before.
  assert.ok(anna.client.send("[]"));
  await until(() => ben.patches.length === 1 && anna.client.pending === 0, "anna's patch");
  assert.equal(anna.joins.length, 1, "clearing its state did not close anna's connection");
});

test("Broadcasts reach the other clients as sent, text or bytes, with who sent them, and never come back to the sender", async (t) => {
  if (needsPresence(t)) return;
  const anna = join(t, "presence/broadcast", "anna");
  const ben = join(t, "presence/broadcast", "ben");
  const cy = join(t, "presence/broadcast", "cy");
  await joined(anna, ben, cy);
  assert.ok(anna.client.broadcast('{"cursor":[3,5]}'));
  assert.ok(anna.client.broadcast(new Uint8Array([0, 10, 255])));
  assert.ok(anna.client.broadcast("third"));
  await until(() => ben.broadcasts.length === 3 && cy.broadcasts.length === 3, "ben and cy to get the three");
  for (const seen of [ben, cy]) {
    assert.deepEqual(seen.broadcasts[0], { payload: '{"cursor":[3,5]}', from: { client: anna.client.presenceId, user: "anna" } });
    assert.deepEqual([...seen.broadcasts[1].payload], [0, 10, 255]);
    assert.equal(seen.broadcasts[2].payload, "third", "in the sender's order");
  }
  // A positive marker: once ben's broadcast reached anna, her own would have come before it.
  ben.client.broadcast("from ben");
  await until(() => anna.broadcasts.length === 1, "ben's broadcast to reach anna");
  assert.deepEqual(anna.broadcasts, [{ payload: "from ben", from: { client: ben.client.presenceId, user: "ben" } }]);
  assert.equal((await gateway.status("presence/broadcast")).lastSequence, 0, "nothing was journaled");
});

test("An idle present client holds its lease with pings; a closed client and a silent one leave the others' lists", async (t) => {
  if (needsPresence(t)) return;
  const anna = join(t, "presence/lease", "anna");
  const ben = join(t, "presence/lease", "ben");
  await joined(anna, ben);
  anna.client.setPresence({ name: "Anna" });
  const a = anna.client.presenceId;
  await until(() => listed(ben)[a], "ben to see anna");
  // Idle for longer than the 3 s timeout: five pings at a third of it.
  const pings = () => anna.sent.filter((frame) => frame === '{"type":"ping"}').length;
  await until(() => pings() >= 5, "anna to ping five times", 30_000);
  anna.client.setPresence({ name: "Anna", still: "here" });
  await until(() => listed(ben)[a]?.state.still === "here", "ben to see anna's update");
  assert.deepEqual(changesOf(ben, a).map((c) => c.type), ["joined", "updated"], "anna never left ben's list while idle");

  anna.client.close();
  await until(() => !listed(ben)[a], "anna to leave once closed", 20_000);

  // A relay.v1 socket that announces a state and then sends nothing, not even a ping, and stays open.
  const silent = new WebSocket(`${gateway.url}/presence/lease?client=silent&user=sil`, "relay.v1");
  t.after(() => silent.terminate());
  await new Promise((resolve) => silent.once("message", resolve));
  silent.send('{"type":"presence"}\n{"name":"Silent"}');
  await until(() => listed(ben).silent, "ben to see the silent client");
  await until(() => !listed(ben).silent, "the silent client to leave within the timeout", 20_000);
  assert.equal(silent.readyState, WebSocket.OPEN, "it left the list without being closed");
});

test("After the Gateway restarts, every client announces its presence again by itself and the lists come back", async (t) => {
  if (needsPresence(t)) return;
  const anna = join(t, "presence/restart", "anna");
  const ben = join(t, "presence/restart", "ben");
  await joined(anna, ben);
  anna.client.setPresence({ name: "Anna" });
  ben.client.setPresence({ name: "Ben" });
  await until(() => anna.client.others.length === 1 && ben.client.others.length === 1, "each to see the other");

  await gateway.kill();
  await until(() => anna.client.others.length === 0 && ben.client.others.length === 0, "the lists to empty with the connection");
  await gateway.start();
  await until(() => anna.joins.length === 2 && ben.joins.length === 2, "both to reconnect");
  // The restarted node knows nothing of anyone's presence: what the lists show now, the clients sent again.
  await until(() => listed(ben)[anna.client.presenceId] && listed(anna)[ben.client.presenceId], "each to see the other again");
  assert.deepEqual(listed(ben)[anna.client.presenceId], { user: "anna", state: { name: "Anna" } });
  assert.deepEqual(listed(anna)[ben.client.presenceId], { user: "ben", state: { name: "Ben" } });
  assert.equal(anna.sent.filter((frame) => frame.startsWith('{"type":"presence"}')).length, 2, "once per connection");
});

test("A server with presence off announces none; the client sends no presence frame to it and its patches go on", async (t) => {
  const anna = join(t, "presence/off", "anna", off);
  const ben = join(t, "presence/off", "ben", off);
  await joined(anna, ben);
  assert.equal(anna.client.presenceLimits, null);
  assert.equal(anna.client.presenceId, null);
  assert.ok(anna.client.setPresence({ name: "Anna" }), "kept, for a server that has it");
  assert.equal(anna.client.broadcast("hi"), false, "nothing to send a broadcast with");
  assert.ok(anna.client.send("[1]"));
  await until(() => ben.patches.length === 1 && anna.client.pending === 0, "the patch and its ack");
  assert.deepEqual(anna.sent, ['{"id":1}\n[1]'], "the patch alone went out");
  assert.deepEqual(ben.client.others, []);
  assert.equal(anna.joins.length, 1, "never closed");
});
