// Browser end-to-end check of the relay: two pages edit one Immer state through a Relay node with the
// standard browser WebSocket, a third page opens later; prints one JSON line with what each page shows.
// Usage: node sync-check.mjs [--turns=N] RELAY_URL [PAGE2_URL [PAGE3_URL]]   (CHROMIUM overrides /usr/bin/chromium)
// --turns: how many turns the pages take appending to the list (10 by default).
// --late-from-snapshot: open the late page only once a join on its node is served from a compaction snapshot
// (a probe page that applies fewer patches than were sent); the node learns of a new snapshot within a second.
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
// One relay URL for all three pages, or one per page (page1, page2, the late page3): pages on different
// nodes of a cluster, the late one through the load balancer.
const options = process.argv.slice(2).filter((arg) => arg.startsWith("--"));
const relays = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const turnsOption = options.find((option) => option.startsWith("--turns="));
const lateFromSnapshot = options.includes("--late-from-snapshot");
const relay = relays[0];
if (!relay) {
  console.error("usage: node sync-check.mjs ws://127.0.0.1:<port>/ [page2 url [page3 url]]");
  process.exit(2);
}

const deadline = Date.now() + 90_000;
const files = {
  "/": ["text/html", readFileSync(join(here, "page.html"))],
  "/immer.mjs": ["text/javascript", readFileSync(join(here, "node_modules/immer/dist/immer.production.mjs"))],
};

// The page's own static server, on loopback, for this check only.
const server = createServer((request, response) => {
  const path = new URL(request.url, "http://localhost").pathname;
  const file = files[path];
  if (path === "/favicon.ico") {
    response.writeHead(204).end();
    return;
  }
  if (!file) {
    response.writeHead(404).end();
    return;
  }
  response.writeHead(200, { "content-type": file[0] }).end(file[1]);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const pageUrl = (url) => `http://127.0.0.1:${server.address().port}/?relay=${encodeURIComponent(url)}`;

const profile = mkdtempSync(join(tmpdir(), "relay-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

const consoleErrors = [];
async function openPage(name, url) {
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(`${name}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${name}: ${error.message}`));
  await page.goto(pageUrl(url));
  await page.waitForFunction(() => window.relayPage !== undefined);
  await page.evaluate(() => window.relayPage.opened);
  return page;
}

// Pages may add the same keys in different orders; what counts is the content, so keys are sorted.
const canonical = (value) =>
  Array.isArray(value) ? value.map(canonical)
  : value !== null && typeof value === "object"
    ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]))
    : value;
const change = (page, recipe) => page.evaluate((source) => window.relayPage.change(source), recipe);
const stateOf = async (page) => JSON.stringify(canonical(await page.evaluate(() => window.relayPage.state())));

async function until(condition, what) {
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let result;
try {
  const page1 = await openPage("page1", relays[0]);
  const page2 = await openPage("page2", relays[1] ?? relays[0]);

  // Turns: each page appends to the shared list after it has seen the other's append, so array indexes agree.
  const turns = turnsOption ? Number(turnsOption.slice("--turns=".length)) : 10;
  for (let turn = 0; turn < turns; turn++) {
    const [writer, reader] = turn % 2 === 0 ? [page1, page2] : [page2, page1];
    await change(writer, `draft.items.push({ turn: ${turn}, by: ${turn % 2 === 0 ? '"page1"' : '"page2"'}, text: "zäh 🚀 ${turn}" });`);
    await until(async () => (await stateOf(reader)) === (await stateOf(writer)), `turn ${turn} to reach the other page`);
  }

  // Bursts: both pages edit at once, each under its own keys, so the edits commute whatever the interleaving.
  const burst = 40;
  for (let i = 0; i < burst; i++) {
    await Promise.all([
      change(page1, `draft.notes["p1-${i}"] = { n: ${i} };`),
      change(page2, `draft.notes["p2-${i}"] = { n: ${i}, tags: ["x", "y"] };`),
    ]);
  }
  await change(page1, `draft.items[0].text = "edited by page1"; draft.title = "done";`);

  const expectedNotes = 2 * burst;
  const settled = async (page) => {
    const state = JSON.parse(await stateOf(page));
    return state.title === "done" && Object.keys(state.notes).length === expectedNotes && state.items.length === turns;
  };
  await until(async () => (await settled(page1)) && (await settled(page2)), "both pages to settle");

  if (lateFromSnapshot) {
    const sent = (await page1.evaluate(() => window.relayPage.applied())) + (await page2.evaluate(() => window.relayPage.applied()));
    await until(async () => {
      const probe = await openPage("probe", relays[2] ?? relays[0]);
      await until(() => settled(probe), "a probe page to settle");
      const applied = await probe.evaluate(() => window.relayPage.applied());
      await probe.close();
      return applied < sent;
    }, `a join served from a snapshot (fewer than ${sent} patches)`);
  }

  // Opened later: the history alone must rebuild the same state.
  const page3 = await openPage("page3", relays[2] ?? relays[0]);
  await until(() => settled(page3), "the late page to settle");

  const pages = { page1, page2, page3 };
  result = { ok: true, pages: {}, consoleErrors };
  for (const [name, page] of Object.entries(pages)) {
    result.pages[name] = {
      state: JSON.parse(await stateOf(page)),
      applied: await page.evaluate(() => window.relayPage.applied()),
      errors: await page.evaluate(() => window.relayPage.errors()),
    };
  }
} catch (error) {
  result = { ok: false, error: String(error?.stack ?? error), consoleErrors };
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
