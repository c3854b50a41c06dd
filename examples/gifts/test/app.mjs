// The built gift app in headless Chromium (Debian's, driven by playwright-core): builds it with Vite, serves it as a
// static host would, and drives its pages through their own UI. Shared by the browser tests and the cluster check.
import { createServer } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { build } from "vite";
import { until } from "../../../clients/js/test/gateway.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const dist = join(root, "dist");
export const shots = join(here, "../test-results");
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/** The app built and served on a free loopback port, and a headless Chromium to open it in. */
export class AppHarness {
  #site = createServer((request, response) => {
    const path = new URL(request.url, "http://localhost").pathname;
    const file = normalize(join(dist, path.endsWith("/") ? `${path}index.html` : path));
    try {
      if (!file.startsWith(dist)) throw new Error("outside dist");
      response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
    } catch {
      response.writeHead(404).end();
    }
  });

  browser = null;

  async start() {
    mkdirSync(shots, { recursive: true });
    await build({ root, logLevel: "warn" });
    // The same app built with React's development build under /dev/: only there does StrictMode run each effect,
    // clean it up and run it again, as `npm run dev` does.
    await build({
      root,
      logLevel: "warn",
      mode: "development",
      base: "/dev/",
      define: { "process.env.NODE_ENV": JSON.stringify("development") },
      build: { outDir: join(dist, "dev"), emptyOutDir: false, minify: false },
    });
    await new Promise((resolve) => this.#site.listen(0, "127.0.0.1", resolve));
    this.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    });
  }

  async stop() {
    await this.browser?.close();
    this.#site.close();
  }

  /**
   * A page of the app on the relay document at `relayUrl`, in a browser context of its own (so it can go offline
   * alone), of the production build or, with `development`, of React's development one; `onClose` receives the
   * context's close, for a test's cleanup; with `context`, a page of that one instead (a tab of the same profile:
   * its IndexedDB, its network). With `persist`, the app keeps its outbox in IndexedDB (?persist=indexeddb), with
   * `shareTabs` its tabs share one connection (?tabs=share); with
   * `joined` false, open() does not wait for the connection to join. Its `sockets` are the URLs of the WebSockets
   * the page created, its `errors` what it logged as errors, less the expected ones.
   */
  async open(relayUrl, name, onClose = () => {}, { development = false, persist = false, shareTabs = false, context: shared = null, joined = true } = {}) {
    const context = shared ?? (await this.browser.newContext());
    if (!shared) onClose(() => context.close());
    const page = await context.newPage();
    const errors = [];
    const sockets = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("websocket", (socket) => sockets.push(socket.url()));
    // The browser logs each refused or dropped connection while a node is down or the page offline: expected. A
    // socket the page closed itself before it opened is not (React StrictMode's double effect used to do that).
    const refused = /net::ERR_(CONNECTION_REFUSED|INTERNET_DISCONNECTED|CONNECTION_RESET|EMPTY_RESPONSE)|WebSocket connection to .* failed/;
    const expected = (text) => refused.test(text) && !/closed before the connection is established/.test(text);
    page.on("console", (message) => message.type() === "error" && !expected(message.text()) && errors.push(message.text()));
    const base = development ? "/dev/" : "/";
    const persisting = `${persist ? "&persist=indexeddb" : ""}${shareTabs ? "&tabs=share" : ""}`;
    await page.goto(`http://127.0.0.1:${this.#site.address().port}${base}?relay=${encodeURIComponent(relayUrl)}${persisting}`);
    if (joined) await page.getByTestId("connection").and(page.locator('[data-status="open"]')).waitFor({ timeout: 20_000 });
    return { page, context, errors, sockets, name };
  }
}

export async function addGift(app, name) {
  await app.page.getByLabel("Gift").fill(name);
  await app.page.getByRole("button", { name: "Add" }).click();
}

/** Types the name the page reserves under ("Your name", kept in the page's localStorage). */
export async function setName(app, name) {
  await app.page.getByLabel("Your name").fill(name);
}

/** What a gift's entry says about who reserved it ("Reserved by Anna", "Reserved"), or null when it is free. */
export const reservedBy = (app, name) =>
  app.page.locator("li", { hasText: name }).evaluate((li) => li.querySelector("[data-testid=reserved-by]")?.textContent ?? null);

export async function reserve(app, name) {
  await app.page.locator("li", { hasText: name }).getByRole("button", { name: "Reserve" }).click();
}

/** What a page shows: each gift's name and whether it is reserved, in the list's order. */
export const shown = (app) =>
  app.page.locator("li").evaluateAll((items) =>
    items.map((li) => `${li.querySelector(".name").textContent}${li.dataset.reserved === "true" ? " (reserved)" : ""}`),
  );

export const connectionOf = (app) => app.page.getByTestId("connection").evaluate((el) => ({ ...el.dataset, text: el.textContent }));

/** Waits until every page shows `expected`. */
export async function converge(apps, expected, ms = 20_000) {
  try {
    await until(async () => {
      const lists = await Promise.all(apps.map(shown));
      return lists.every((list) => JSON.stringify(list) === JSON.stringify(expected));
    }, `every page to show ${JSON.stringify(expected)}`, ms);
  } catch (error) {
    const seen = await Promise.all(apps.map(async (app) => `${app.name}: ${JSON.stringify(await shown(app))} ${(await connectionOf(app)).text}`));
    throw new Error(`${error.message}; the pages show\n${seen.join("\n")}`);
  }
}

/** The people a page shows as looking at the list: each avatar's name, with "×N" for more than one tab. */
export const viewers = (app) =>
  app.page.getByTestId("viewer").evaluateAll((items) =>
    items.map((el) => `${el.querySelector(".who").textContent}${el.querySelector(".tabs")?.textContent ?? ""}`),
  );

/** Who a page shows as looking at a gift ("Ben is looking at this"), or null for nobody. */
export const lookingAt = (app, name) =>
  app.page.locator("li", { hasText: name }).evaluate((li) => li.querySelector("[data-testid=looking]")?.textContent ?? null);
