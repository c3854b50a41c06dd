// The built gift app in headless Chromium (Debian's, driven by playwright-core) against a real Gateway process:
// pages click through the app's own UI and must show the same list; a connection dropped from the server side
// (the Gateway SIGKILLed and restarted on the same port and journal, 10 s later) and from the page side (the page
// goes offline for 10 s) loses nothing, doubles nothing, and resumes; in React StrictMode a page opens one socket
// and no other; a reserved gift names who reserved it; a client stopped for good shows an error banner; a page
// reloaded under the client id it keeps in sessionStorage loses and doubles nothing; a page that persists its
// outbox in IndexedDB, closed with edits made offline, shows them when reopened (and reloaded) before it is back
// online, and sends each once; three tabs sharing one connection lose and double nothing when the leader closes,
// and are present each on a socket of its own, shown as one person with three tabs (then two);
// two people see each other looking at the list (one avatar for two tabs) and the gift each hovers, and one gone
// offline leaves the other's view within the presence timeout.
// Screenshots go to test-results/. The app is built (vite build, and a development build for StrictMode) while
// the Gateway starts; @relay/client must be built first (npm test does).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import WebSocket from "../../../clients/js/node_modules/ws/wrapper.mjs";
import { ConnectionLog, Gateway, SeedRelay, until } from "../../../clients/js/test/gateway.mjs";
import { AppHarness, addGift, connectionOf, converge, lookingAt, reserve, reservedBy, setName, shots, shown, viewers } from "./app.mjs";

const app = new AppHarness();
const gateway = new Gateway();

before(async () => {
  const starting = gateway.start();
  await app.start();
  await starting;
});
after(async () => {
  await app.stop();
  await gateway.dispose();
});

/** A page of the app on `document` of `server`. */
const openApp = (t, document, name, server = gateway, options = {}) =>
  app.open(`${server.url}/${document}`, name, (close) => t.after(close), options);

test("Two pages of the gift app, clicked through, show the same list and who reserved what", async (t) => {
  const one = await openApp(t, "gifts/two-pages", "one");
  const two = await openApp(t, "gifts/two-pages", "two");
  await addGift(one, "Socks");
  await converge([one, two], ["Socks"]);
  await addGift(two, "Book");
  // Page two reserves under a name; page one gives none, and its reservation shows without one.
  await setName(two, "Anna");
  await reserve(two, "Socks");
  await addGift(one, "Tie");
  await converge([one, two], ["Socks (reserved)", "Book", "Tie"]);
  await reserve(one, "Tie");
  await converge([one, two], ["Socks (reserved)", "Book", "Tie (reserved)"]);
  // A page opened now builds the list from the history alone, names included.
  const late = await openApp(t, "gifts/two-pages", "late");
  await converge([one, two, late], ["Socks (reserved)", "Book", "Tie (reserved)"]);
  for (const app of [one, two, late]) {
    assert.equal(await reservedBy(app, "Socks"), "Reserved by Anna", app.name);
    assert.equal(await reservedBy(app, "Tie"), "Reserved", app.name);
    assert.equal(await reservedBy(app, "Book"), null, app.name);
  }
  // The name is kept across a reload.
  await two.page.reload();
  await two.page.getByTestId("connection").and(two.page.locator('[data-status="open"]')).waitFor({ timeout: 20_000 });
  assert.equal(await two.page.getByLabel("Your name").inputValue(), "Anna");
  for (const app of [one, two, late]) await app.page.screenshot({ path: join(shots, `two-pages-${app.name}.png`) });
  assert.equal((await gateway.status("gifts/two-pages")).lastSequence, 5, "five changes, each journaled once");
  // Taking a reservation back drops the name with it.
  await reserve(late, "Book");
  await late.page.locator("li", { hasText: "Socks" }).getByRole("button", { name: "Unreserve" }).click();
  await converge([one, two, late], ["Socks", "Book (reserved)", "Tie (reserved)"]);
  assert.equal(await reservedBy(one, "Socks"), null);
  assert.equal((await gateway.status("gifts/two-pages")).lastSequence, 7);
  for (const app of [one, two, late]) assert.deepEqual(app.errors, []);
});

test("A page reloaded under the client id it keeps in sessionStorage loses and doubles nothing of 60 gifts before and 60 after", async (t) => {
  const writer = await openApp(t, "gifts/reloaded", "writer");
  const watcher = await openApp(t, "gifts/reloaded", "watcher");
  const names = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `Gift ${String(from + i).padStart(3, "0")}`);
  for (const name of names(1, 60)) await addGift(writer, name);
  await converge([writer, watcher], names(1, 60));
  const keptId = await writer.page.evaluate(() => sessionStorage.getItem("relay-gifts.client-id"));
  assert.match(keptId, /^[0-9a-f]{32}$/);

  // The reload keeps sessionStorage, so the same client id, and nothing else of the client.
  await writer.page.reload();
  await writer.page.getByTestId("connection").and(writer.page.locator('[data-status="open"]')).waitFor({ timeout: 20_000 });
  await converge([writer], names(1, 60));
  for (const name of names(61, 120)) await addGift(writer, name);
  await converge([writer, watcher], names(1, 120));

  // The client was told its id holds patches it did not write, took a new one, and the page keeps that one now.
  const newId = await writer.page.evaluate(() => sessionStorage.getItem("relay-gifts.client-id"));
  assert.match(newId, /^[0-9a-f]{32}$/);
  assert.notEqual(newId, keptId);
  assert.equal((await gateway.status("gifts/reloaded")).lastSequence, 120, "120 gifts, each journaled once");
  assert.deepEqual([...writer.errors, ...watcher.errors], []);
});

test("A client stopped for good (a gift over the server's size limit, closed with 1009) shows an error banner", async (t) => {
  const strict = new Gateway({ "Relay:MaxMessageBytes": "1024" });
  await strict.start();
  t.after(() => strict.dispose());
  const page = await openApp(t, "gifts/stopped", "stopped", strict);
  await addGift(page, "Socks");
  await until(async () => (await connectionOf(page)).text.includes("0 pending"), "the gift to be acknowledged");
  assert.equal(await page.page.getByTestId("error-banner").count(), 0, "no banner while all is well");
  assert.equal(await page.page.getByTestId("status-badge").textContent(), "Online");

  // One patch of over 1024 bytes: the server closes with 1009 and the client stops rather than resend it forever.
  await addGift(page, `A very long gift ${"x".repeat(1200)}`);
  const banner = page.page.getByTestId("error-banner");
  await banner.waitFor({ timeout: 20_000 });
  assert.equal(await banner.getAttribute("data-kind"), "stopped");
  assert.match(await banner.textContent(), /stopped .*1 change was not saved; reload the page to try again/);
  assert.equal(await page.page.getByTestId("status-badge").getAttribute("data-status"), "closed");
  assert.equal(await page.page.getByTestId("status-badge").textContent(), "Stopped");
  // A change made now is refused (update returns false) and leaves the list as it was; the banner stays.
  await reserve(page, "Socks");
  assert.deepEqual(await shown(page), ["Socks", `A very long gift ${"x".repeat(1200)}`]);
  assert.equal(await banner.getAttribute("data-kind"), "stopped");
  await page.page.screenshot({ path: join(shots, "stopped-banner.png") });
  assert.equal((await strict.status("gifts/stopped")).lastSequence, 1, "only the gift within the limit was journaled");
  assert.deepEqual(page.errors, []);
});

test("A page in React StrictMode opens one socket: the double effect neither opens and closes one nor leaves two", async (t) => {
  // The app renders in StrictMode (src/main.jsx): in React's development build its effects run, are cleaned up
  // and run again on mount.
  const wire = new ConnectionLog(gateway.port);
  await wire.start();
  t.after(() => wire.dispose());
  const page = await openApp(t, "gifts/strict", "strict", wire, { development: true });
  await addGift(page, "Socks");
  await until(async () => (await connectionOf(page)).text.includes("0 pending"), "the gift to be acknowledged");
  assert.equal(page.sockets.length, 1, `the page created one WebSocket: ${JSON.stringify(page.sockets)}`);
  assert.deepEqual(wire.connections, [{ upgraded: true, closed: false }], "the server saw one connection, upgraded and open");
  assert.equal((await gateway.status("gifts/strict")).lastSequence, 1);
  assert.match((await connectionOf(page)).text, /^open · joined · 0 pending · 0 received$/);
  assert.deepEqual(page.errors, []);
});

test("Pages keep their edits through a Gateway restart and through going offline, then resume with nothing lost or doubled", async (t) => {
  const one = await openApp(t, "gifts/drops", "one");
  const two = await openApp(t, "gifts/drops", "two");
  await addGift(one, "Socks");
  await addGift(two, "Book");
  await converge([one, two], ["Socks", "Book"]);

  // Server side: the node dies. Both pages keep editing; their edits show at once and wait in the queue.
  const down = Date.now();
  await gateway.kill();
  await until(async () => (await connectionOf(one)).status === "connecting", "page one to notice");
  await addGift(one, "Scarf");
  await reserve(two, "Book");
  await until(async () => (await shown(one)).includes("Scarf") && (await shown(two)).includes("Book (reserved)"), "the offline edits to show");
  await one.page.screenshot({ path: join(shots, "drops-one-while-down.png") });
  // The node stays down for 10 s before it starts again (the outage is the scenario, not a wait for something).
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, down + 10_000 - Date.now())));
  await gateway.start();
  await converge([one, two], ["Socks", "Book (reserved)", "Scarf"], 30_000);
  t.diagnostic(`the Gateway was down for ${Date.now() - down} ms`);
  for (const app of [one, two]) {
    await until(async () => (await connectionOf(app)).text.includes("0 pending"), `${app.name} to have its edits acknowledged`);
    const connection = await connectionOf(app);
    assert.equal(connection.resumed, "true", `${app.name} resumed: ${connection.text}`);
  }
  // Page one received Book and its reservation, once each: a full replay would have counted the whole history.
  assert.match((await connectionOf(one)).text, / 2 received$/);

  // Page side: page two goes offline (its socket is closed at once), edits, and comes back.
  const offlineAt = Date.now();
  await two.context.setOffline(true);
  await until(async () => (await connectionOf(two)).status === "connecting", "page two to go offline");
  // Offline, the footer says so and nothing of the join it had before.
  assert.match((await connectionOf(two)).text, /^connecting · 0 pending · \d+ received$/);
  await addGift(two, "Gloves");
  await reserve(two, "Scarf");
  await addGift(one, "Mug");
  await until(async () => (await shown(one)).includes("Mug") && (await connectionOf(one)).text.includes("0 pending"), "page one's edit to be journaled");
  await two.page.screenshot({ path: join(shots, "drops-two-offline.png") });
  // The page stays offline for 10 s in all (the outage is the scenario, not a wait for something to happen).
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, offlineAt + 10_000 - Date.now())));
  t.diagnostic(`page two was offline for ${Date.now() - offlineAt} ms`);
  await two.context.setOffline(false);
  // The list is in the order the gifts were added (Gloves, offline, before Mug), whatever order the server has.
  const expected = ["Socks", "Book (reserved)", "Scarf (reserved)", "Gloves", "Mug"];
  await converge([one, two], expected);
  await until(async () => (await connectionOf(two)).text.includes("0 pending"), "page two's offline edits to be acknowledged");
  assert.equal((await connectionOf(two)).resumed, "true");
  for (const app of [one, two]) await app.page.screenshot({ path: join(shots, `drops-${app.name}-after.png`) });

  // Every click became exactly one patch in the history: 2 + 2 while the node was down + 3 while page two was offline.
  assert.equal((await gateway.status("gifts/drops")).lastSequence, 7);
  for (const app of [one, two]) assert.deepEqual(app.errors, []);
});

test("A page opened after 10,000 patches with compaction on starts from a snapshot and shows what a page that applied every patch shows", async (t) => {
  // The server folds from the app's own initial state: patches add under "gifts", which must exist.
  const compacting = new Gateway({ "Relay:Compaction:Mode": "immer", "Relay:Compaction:InitialState": '{"gifts":{}}' });
  await compacting.start();
  t.after(() => compacting.dispose());
  const document = "gifts/compacted";
  const early = await openApp(t, document, "early", compacting);

  // 200 gifts, then 9,800 reservations and cancellations, as the app's own Immer patches; a raw client sends them.
  const names = Array.from({ length: 200 }, (_, i) => `Gift ${String(i).padStart(3, "0")}`);
  const reserved = names.map(() => false);
  const writer = new WebSocket(`${compacting.url}/${document}`);
  await new Promise((resolve, reject) => (writer.once("open", resolve), writer.once("error", reject)));
  let seed = 12345;
  for (let i = 0; i < 10_000; i++) {
    if (i < names.length) {
      writer.send(JSON.stringify([{ op: "add", path: ["gifts", `g${i}`], value: { name: names[i], reserved: false, added: i } }]));
    } else {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const gift = seed % names.length;
      reserved[gift] = !reserved[gift];
      writer.send(JSON.stringify([{ op: "replace", path: ["gifts", `g${gift}`, "reserved"], value: reserved[gift] }]));
    }
  }
  await until(async () => (await compacting.status(document)).lastSequence === 10_000, "the 10,000 patches to be journaled", 60_000);
  writer.close();
  const expected = names.map((name, i) => `${name}${reserved[i] ? " (reserved)" : ""}`);
  await converge([early], expected, 60_000);

  const status = await compacting.status(document);
  assert.ok(status.snapshot > 0, `the document has a snapshot: ${JSON.stringify(status)}`);
  const late = await openApp(t, document, "late", compacting);
  await converge([early, late], expected);
  const received = Number(/ (\d+) received$/.exec((await connectionOf(late)).text)[1]);
  t.diagnostic(`the late page received ${received} patches (snapshot at ${status.snapshot})`);
  // A full replay would be 10,000 patches; a join from a snapshot is one patch plus the few hundred after it.
  assert.ok(received < 1000, `the late page joined from a snapshot: ${received} patches`);
  await late.page.screenshot({ path: join(shots, "compacted-late.png") });
  for (const app of [early, late]) assert.deepEqual(app.errors, []);
});

test("Against the original relay the app falls back to raw frames, and two pages still converge", async (t) => {
  const seed = new SeedRelay();
  await seed.start();
  t.after(() => seed.dispose());
  // A gift from a raw client of the original kind: with a history, the relay's first frame is not a hello.
  const classic = new WebSocket(`${seed.url}/`);
  await new Promise((resolve, reject) => (classic.once("open", resolve), classic.once("error", reject)));
  classic.send(JSON.stringify([{ op: "add", path: ["gifts", "classic"], value: { name: "Kite", reserved: false, added: 0 } }]));
  classic.close();

  const one = await openApp(t, "", "one", seed);
  const two = await openApp(t, "", "two", seed);
  await converge([one, two], ["Kite"]);
  await reserve(one, "Kite");
  await addGift(two, "Puzzle");
  await converge([one, two], ["Kite (reserved)", "Puzzle"]);
  for (const app of [one, two]) {
    assert.match((await connectionOf(app)).text, /^open · (joined|rebuilt) · 0 pending/);
    await app.page.screenshot({ path: join(shots, `raw-${app.name}.png`) });
    assert.deepEqual(app.errors, []);
  }
});

/** The outboxes a page's profile keeps in IndexedDB (the client's database, once the app opened it): id and pending. */
const storedOutboxes = (app) =>
  app.page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("relay-client", 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const all = db.transaction("outboxes").objectStore("outboxes").getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            db.close();
            resolve(all.result.map((r) => ({ clientId: r.clientId, pending: r.pending.length })));
          };
        };
      }),
  );

test("A page that persists its outbox, closed with edits made offline, shows them when reopened before it is online, and sends each once", async (t) => {
  const document = "gifts/persisted";
  const writer = await openApp(t, document, "writer", gateway, { persist: true });
  const watcher = await openApp(t, document, "watcher");
  // A second tab of the same profile, open throughout: it keeps an outbox of its own (its own id), so the page
  // reopened later continues the writer's, not this one's.
  const twin = await app.open(`${gateway.url}/${document}`, "twin", () => {}, { persist: true, context: writer.context });
  await addGift(writer, "Socks");
  await converge([writer, watcher, twin], ["Socks"]);
  await until(async () => (await storedOutboxes(writer)).length === 2, "both tabs to store their outbox");
  const tabs = await storedOutboxes(writer);
  assert.notEqual(tabs[0].clientId, tabs[1].clientId, `one outbox per tab: ${JSON.stringify(tabs)}`);

  // Offline, the writer edits; its edits show at once and are stored before they could be sent.
  await writer.context.setOffline(true);
  await until(async () => (await connectionOf(writer)).status === "connecting", "the writer to go offline");
  await addGift(writer, "Scarf");
  await reserve(writer, "Socks");
  await addGift(writer, "Mug");
  const expected = ["Socks (reserved)", "Scarf", "Mug"];
  await converge([writer], expected);
  await until(async () => (await storedOutboxes(writer)).some((o) => o.pending === 3), "the three edits to be stored");
  const writerId = (await storedOutboxes(writer)).find((o) => o.pending === 3).clientId;
  await writer.page.close();

  // The server is down when the page comes back, so what it shows comes from IndexedDB alone.
  await gateway.kill();
  await writer.context.setOffline(false);
  const reopened = await app.open(`${gateway.url}/${document}`, "reopened", () => {}, { persist: true, context: writer.context, joined: false });
  await converge([reopened], expected);
  assert.equal((await connectionOf(reopened)).status, "connecting", "shown before the connection is back");
  assert.match(await reopened.page.getByTestId("status-badge").textContent(), /3 waiting/);
  await reopened.page.screenshot({ path: join(shots, "persisted-reopened-offline.png") });
  // Reloaded while still unable to connect, it continues the same outbox (the page before let its lock go).
  await reopened.page.reload();
  await converge([reopened], expected);
  assert.match(await reopened.page.getByTestId("status-badge").textContent(), /3 waiting/);

  await gateway.start();
  await converge([reopened, watcher, twin], expected, 30_000);
  await until(async () => (await connectionOf(reopened)).text.includes("0 pending"), "the stored edits to be acknowledged", 30_000);
  const stored = await storedOutboxes(reopened);
  assert.ok(stored.some((o) => o.clientId === writerId), `the reopened page continued the writer's outbox: ${JSON.stringify(stored)}`);
  assert.equal((await connectionOf(reopened)).resumed, "true", "it resumed after the stored sequence number");
  // The watcher got Socks, then each of the three once (it resumed after the restart: no replay).
  await until(async () => / 4 received$/.test((await connectionOf(watcher)).text), "the watcher to receive the three edits");
  assert.equal((await gateway.status(document)).lastSequence, 4, "four changes, each journaled once");
  await reopened.page.screenshot({ path: join(shots, "persisted-reopened-online.png") });
  for (const page of [writer, watcher, twin, reopened]) assert.deepEqual(page.errors, [], page.name);
});

test("Three tabs share one connection; the leader closed mid-stream hands over, and every tab ends with the same gifts, none doubled; each tab is present, shown as one person", async (t) => {
  const presence = await gateway.speaksPresence();
  const document = "gifts/shared-tabs";
  const url = `${gateway.url}/${document}`;
  const first = await openApp(t, document, "first", gateway, { shareTabs: true });
  // The name is the profile's (localStorage): the tabs opened after this present themselves under it too.
  await setName(first, "Tess");
  const tab = (name) => app.open(url, name, () => {}, { shareTabs: true, context: first.context });
  const second = await tab("second");
  const third = await tab("third");
  const watcher = await openApp(t, document, "watcher");
  await setName(watcher, "Walt");
  const leaderOf = async (pages) => {
    const flags = await Promise.all(pages.map(async (p) => (await connectionOf(p)).leader === "true"));
    return pages.filter((_, i) => flags[i]);
  };
  await until(async () => (await leaderOf([first, second, third])).length === 1, "one tab to lead", 30_000);
  const [leader] = await leaderOf([first, second, third]);
  const followers = [first, second, third].filter((p) => p !== leader);
  // One socket for the list, the leader's; and each tab's own for presence (clients/js README, "Presence and broadcasts").
  await until(async () => [leader, ...followers].every((p) => p.sockets.length >= 1), "each tab to open its presence socket", 20_000);
  assert.equal(leader.sockets.length, 2, "the leader holds the list's socket and its presence socket");
  assert.deepEqual(followers.map((p) => p.sockets.length), [1, 1], "the other tabs open only their presence socket");

  await addGift(leader, "From the leader");
  await converge([first, second, third, watcher], ["From the leader"]);
  if (presence) {
    // The watcher sees one person with three tabs; each tab sees the watcher and its two sibling tabs as one person.
    await until(async () => JSON.stringify(await viewers(watcher)) === '["Tess×3"]', "the watcher to see Tess once, with three tabs", 20_000);
    for (const p of [first, second, third]) {
      await until(async () => JSON.stringify((await viewers(p)).sort()) === '["Tess×2","Walt"]', `${p.name} to see Walt and its two sibling tabs`, 20_000);
    }
    await followers[0].page.locator("li", { hasText: "From the leader" }).hover();
    await until(async () => (await lookingAt(watcher, "From the leader")) === "Tess is looking at this", "the watcher to see a follower tab's hover", 20_000);
    await watcher.page.locator("li", { hasText: "From the leader" }).hover();
    const both = ["Tess, Walt are looking at this", "Walt, Tess are looking at this"];
    await until(async () => both.includes(await lookingAt(followers[1], "From the leader")), "a tab to see its sibling's and the watcher's hover", 20_000);
  }

  // The followers add gifts in turn; after the fifth round the leader's tab closes, and they go on.
  const names = [];
  for (let round = 1; round <= 10; round++) {
    for (const [i, follower] of followers.entries()) {
      const name = `Gift ${i + 1}-${String(round).padStart(2, "0")}`;
      names.push(name);
      await addGift(follower, name);
    }
    if (round === 5) await leader.page.close();
  }
  const expected = ["From the leader", ...names].sort();
  const sorted = async (p) => (await shown(p)).sort();
  try {
    await until(async () => {
      for (const p of [...followers, watcher]) if (JSON.stringify(await sorted(p)) !== JSON.stringify(expected)) return false;
      return true;
    }, "every tab and the watcher to show every gift", 30_000);
  } catch (error) {
    const seen = await Promise.all([...followers, watcher].map(async (p) => `${p.name}: ${JSON.stringify(await sorted(p))} ${(await connectionOf(p)).text}`));
    throw new Error(`${error.message}\n${seen.join("\n")}`);
  }
  await until(async () => (await leaderOf(followers)).length === 1, "one of the others to lead", 30_000);
  for (const p of followers) await until(async () => (await connectionOf(p)).text.includes("0 pending"), `${p.name}'s gifts to be in the order`, 30_000);
  assert.equal(followers.reduce((n, p) => n + p.sockets.length, 0), 2 + 1, "the new leader opened the one list socket of the two (beside their presence sockets)");
  // The closed tab left the others' presence with its page.
  if (presence) await until(async () => JSON.stringify(await viewers(watcher)) === '["Tess×2"]', "the watcher to see Tess with two tabs", 20_000);
  // Each gift is one patch, journaled once; the watcher received each once.
  await until(async () => / 21 received$/.test((await connectionOf(watcher)).text), "the watcher to receive 21 patches", 30_000);
  assert.equal((await gateway.status(document)).lastSequence, 21, "21 gifts, each journaled once");
  for (const p of followers) await p.page.screenshot({ path: join(shots, `shared-tabs-${p.name}.png`) });
  for (const p of [first, second, third, watcher]) assert.deepEqual(p.errors, [], p.name);
});

test("Two people see who is looking at the list and which gift each hovers; one gone offline leaves the other's view within the timeout", async (t) => {
  if (!(await gateway.speaksPresence())) {
    t.skip("this Gateway build has no presence (no relay_presence_clients in /metrics)");
    return;
  }
  const anna = await openApp(t, "gifts/presence", "anna");
  const ben = await openApp(t, "gifts/presence", "ben");
  await setName(anna, "Anna");
  await setName(ben, "Ben");
  await addGift(anna, "Socks");
  await addGift(anna, "Book");
  await converge([anna, ben], ["Socks", "Book"]);
  await until(async () => JSON.stringify(await viewers(anna)) === '["Ben"]' && JSON.stringify(await viewers(ben)) === '["Anna"]', "each to see the other", 20_000);

  await ben.page.locator("li", { hasText: "Book" }).hover();
  await until(async () => (await lookingAt(anna, "Book")) === "Ben is looking at this", "anna to see ben on Book", 20_000);
  await anna.page.locator("li", { hasText: "Socks" }).hover();
  await until(async () => (await lookingAt(ben, "Socks")) === "Anna is looking at this", "ben to see anna on Socks", 20_000);
  assert.equal(await lookingAt(anna, "Socks"), null, "a page does not list itself");

  // A second tab of Ben's (the same browser profile, so the same user): one avatar, two tabs.
  const benTab = await openApp(t, "gifts/presence", "ben-tab", gateway, { context: ben.context });
  await until(async () => JSON.stringify(await viewers(anna)) === '["Ben×2"]', "anna to see ben once, with two tabs", 20_000);
  await until(async () => JSON.stringify((await viewers(benTab)).sort()) === '["Anna","Ben"]', "ben's new tab to see anna and ben's other tab", 20_000);
  for (const app of [anna, ben]) await app.page.screenshot({ path: join(shots, `presence-${app.name}.png`) });

  // Ben's browser goes offline: both his tabs leave anna's view within the server's timeout (10 s by default).
  await ben.context.setOffline(true);
  await until(async () => (await viewers(anna)).length === 0, "ben to leave anna's view", 10_000 + 15_000);
  assert.equal(await lookingAt(anna, "Book"), null);
  await until(async () => (await viewers(ben)).length === 0, "ben's page to drop what it can no longer know", 20_000);

  // Back online, his pages announce themselves again by themselves.
  await ben.context.setOffline(false);
  await until(async () => JSON.stringify(await viewers(anna)) === '["Ben×2"]', "ben to be back in anna's view", 30_000);
  for (const app of [anna, ben, benTab]) assert.deepEqual(app.errors, [], app.name);
});
