// The reconnecting socket (src/socket.ts) on its own, against real HTTP and WebSocket servers in this process on
// 127.0.0.1: its backoff, which closes and refusals stop it and which are retried, the browser's hidden refusals
// (the plain HTTP address decides), an unreachable server, a server that chooses no subprotocol, and the browser's
// offline and online events. And closeCodes.ts, which decides what is final.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { CloseCode, closeIsFinal, refusalIsFinal } from "../dist/closeCodes.js";
import { ReconnectingSocket } from "../dist/socket.js";
import { freePort, until } from "./gateway.mjs";

/**
 * An HTTP server on 127.0.0.1 (on `port`, or any). `upgrade(request, n)` answers the n-th upgrade: an HTTP status to
 * refuse it with, or a function that gets the accepted WebSocket. Plain requests get `get()`'s status. It records
 * what it was asked; t.after closes it.
 */
async function serve(t, { port = 0, upgrade, get = () => 200, handleProtocols }) {
  const sockets = new WebSocketServer({ noServer: true, handleProtocols });
  const seen = { upgrades: [], gets: [] };
  const http = createServer((request, response) => {
    seen.gets.push(request.url);
    response.writeHead(get()).end();
  });
  http.on("upgrade", (request, tcp, head) => {
    seen.upgrades.push({ url: request.url, at: Date.now(), protocols: request.headers["sec-websocket-protocol"] });
    const answer = upgrade(request, seen.upgrades.length);
    if (typeof answer === "number") {
      tcp.end(`HTTP/1.1 ${answer} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      sockets.handleUpgrade(request, tcp, head, answer);
    }
  });
  await new Promise((listening) => http.listen(port, "127.0.0.1", listening));
  seen.url = `ws://127.0.0.1:${http.address().port}`;
  t.after(
    () =>
      new Promise((closed) => {
        for (const ws of sockets.clients) ws.terminate();
        http.closeAllConnections();
        http.close(closed);
      }),
  );
  return seen;
}

/** A ReconnectingSocket to `url` that records what it tells; t.after stops it. `handlers` may answer target() and onNoSubprotocol(). */
function reconnecting(t, url, options = {}, handlers = {}) {
  const seen = { targets: 0, connecting: 0, opens: [], messages: [], closes: 0, noSubprotocol: 0, stops: [] };
  seen.socket = new ReconnectingSocket(
    { WebSocket, minDelay: 20, maxDelay: 100, ...options },
    {
      target: () => {
        const n = ++seen.targets;
        return handlers.target?.(n) ?? { url: `${url}/doc?access_token=secret&attempt=${n}` };
      },
      onConnecting: () => seen.connecting++,
      onOpen: (s) => seen.opens.push(s.protocol),
      onMessage: (data) => seen.messages.push(data),
      onClose: () => seen.closes++,
      onNoSubprotocol: () => (seen.noSubprotocol++, handlers.onNoSubprotocol?.() ?? false),
      onStop: (stop) => seen.stops.push(stop),
    },
  );
  seen.socket.start();
  t.after(() => seen.socket.stop({ reason: "closed", detail: "the test is over" }));
  return seen;
}

/** ws as a page's WebSocket looks: a refused upgrade is an error event that does not say the HTTP status. */
class BrowserLike extends WebSocket {
  addEventListener(type, listener) {
    super.addEventListener(type, type === "error" ? () => listener(new Event("error")) : listener);
  }
}

test("Each retry waits longer, doubling from minDelay up to maxDelay, and asks target() for its address anew", async (t) => {
  const closedWith = [];
  const server = await serve(t, {
    // Five connections closed at once by the server; the sixth stays open until the socket is stopped.
    upgrade: (_, n) => (ws) => (n < 6 ? ws.close(CloseCode.TryAgainLater, "try again") : ws.on("close", (code) => closedWith.push(code))),
  });
  const seen = reconnecting(t, server.url, { minDelay: 40, maxDelay: 160 });
  await until(() => seen.opens.length === 6, "six connections", 30_000);
  assert.deepEqual(server.upgrades.map((u) => u.url), [1, 2, 3, 4, 5, 6].map((n) => `/doc?access_token=secret&attempt=${n}`));
  const gaps = server.upgrades.slice(1).map((u, i) => u.at - server.upgrades[i].at);
  // Delay n is min(160, 40 × 2^n) times 50-100 %: at least 20, 40, 80, 80, 80 ms (a timer may fire a ms early).
  for (const [n, gap] of gaps.entries()) assert.ok(gap >= Math.min(160, 40 * 2 ** n) / 2 - 2, `gap ${n}: ${gap} ms`);
  assert.equal(seen.closes, 5);
  assert.equal(seen.stops.length, 0, "1013 is retried");

  seen.socket.stop({ reason: "closed", detail: "done" });
  await until(() => closedWith.length === 1, "the server to see the close");
  assert.deepEqual(closedWith, [CloseCode.Normal]);
  assert.deepEqual(seen.stops, [{ reason: "closed", detail: "done" }]);
  assert.equal(seen.socket.current, null);
});

test("Text frames arrive as strings and binary ones as bytes; the open socket is there to write on", async (t) => {
  const server = await serve(t, {
    upgrade: () => (ws) => {
      ws.send("text");
      ws.send(Buffer.from([0, 10, 255]));
      ws.on("message", (data) => ws.send(`echo ${data}`));
    },
  });
  const seen = reconnecting(t, server.url);
  await until(() => seen.messages.length === 2, "both frames");
  assert.equal(seen.messages[0], "text");
  assert.ok(seen.messages[1] instanceof Uint8Array);
  assert.deepEqual([...seen.messages[1]], [0, 10, 255]);
  seen.socket.open.send("hi");
  await until(() => seen.messages.length === 3, "the echo");
  assert.equal(seen.messages[2], "echo hi");
});

test("Closes that a retry cannot fix stop it; a slow consumer, going away and try again later are retried", async (t) => {
  const closes = [
    [CloseCode.TryAgainLater, "history unavailable, try again later"],
    [CloseCode.GoingAway, "shutting down"],
    [CloseCode.PolicyViolation, "slow consumer"],
    [CloseCode.InternalError, "oops"],
    [CloseCode.PolicyViolation, "bad relay.v1 frame: no header"],
  ];
  const server = await serve(t, { upgrade: (_, n) => (ws) => ws.close(...closes[n - 1]) });
  const seen = reconnecting(t, server.url);
  await until(() => seen.stops.length === 1, "the socket to stop", 30_000);
  assert.deepEqual(seen.stops[0], { reason: "rejected", code: 1008, detail: "bad relay.v1 frame: no header" });
  assert.equal(server.upgrades.length, 5);
  assert.equal(seen.socket.current, null);
});

test("A refused upgrade whose status a browser hides is final when the plain HTTP address says 400, 401 or 403", async (t) => {
  const server = await serve(t, { upgrade: () => 403, get: () => 403 });
  const seen = reconnecting(t, server.url, { WebSocket: BrowserLike });
  await until(() => seen.stops.length === 1, "the socket to stop");
  assert.equal(server.upgrades.length, 1);
  assert.deepEqual(server.gets, ["/doc?access_token=secret"], "the document's address, with only the token of its query");
  assert.deepEqual([seen.stops[0].reason, seen.stops[0].code], ["refused", 403]);
  assert.match(seen.stops[0].detail, /http:\/\/127\.0\.0\.1:\d+\/doc\?access_token=secret with HTTP 403/);
});

test("A refused upgrade is retried while the plain HTTP address answers anything else, and opens once accepted", async (t) => {
  const server = await serve(t, { upgrade: (_, n) => (n <= 3 ? 503 : () => {}), get: () => 200 });
  // A readable answer other than 400, 401 or 403 is no refusal: maxRefusals 1 would stop it at the first one.
  const seen = reconnecting(t, server.url, { WebSocket: BrowserLike, maxRefusals: 1 });
  await until(() => seen.opens.length === 1, "the fourth attempt to open", 30_000);
  assert.equal(server.upgrades.length, 4);
  assert.equal(server.gets.length, 3);
  assert.equal(seen.stops.length, 0);
});

test("An unreachable server is retried, its attempts never counted as refusals, until it is there", async (t) => {
  const port = await freePort();
  const seen = reconnecting(t, `ws://127.0.0.1:${port}`, { WebSocket: BrowserLike, maxRefusals: 1, minDelay: 400, maxDelay: 400 });
  // Each attempt says connecting twice: as it starts, and as its retry waits once the HTTP check has failed.
  await until(() => seen.targets >= 3 && seen.connecting === 2 * seen.targets, "three attempts and a retry waiting", 30_000);
  assert.equal(seen.stops.length, 0);
  // Listening while the socket waits to retry, not in the middle of a check whose second request could find it.
  await serve(t, { port, upgrade: () => () => {} });
  await until(() => seen.opens.length === 1 || seen.stops.length === 1, "the socket to open once the server listens", 30_000);
  assert.deepEqual(seen.stops, []);
});

test("A server that chooses none of the subprotocols offered gets a new attempt at once, with what target() offers then", async (t) => {
  const server = await serve(t, { upgrade: () => () => {}, handleProtocols: () => false });
  const seen = reconnecting(
    t,
    server.url,
    { minDelay: 60_000 },
    {
      target: (n) => ({ url: `${server.url}/doc`, protocols: n === 1 ? ["relay.v1"] : undefined }),
      onNoSubprotocol: () => true,
    },
  );
  // With a first retry delay of a minute, an open within the wait means the retry did not back off.
  await until(() => seen.opens.length === 1, "the second attempt to open");
  assert.equal(seen.noSubprotocol, 1);
  assert.deepEqual(server.upgrades.map((u) => u.protocols), ["relay.v1", undefined]);
  assert.deepEqual(seen.opens, [""]);
});

/** A page's window (its online and offline events) and navigator.onLine in globalThis, as a browser has them; t.after removes them. */
function browserGlobals(t) {
  const page = new EventTarget();
  const network = { onLine: true };
  globalThis.window = page;
  Object.defineProperty(globalThis, "navigator", { value: network, configurable: true, writable: true });
  t.after(() => {
    delete globalThis.window;
    delete globalThis.navigator;
  });
  return { page, network };
}

test("In a browser, going offline closes the socket at once, and coming back online reconnects at once", async (t) => {
  const { page, network } = browserGlobals(t);
  const closedWith = [];
  const server = await serve(t, { upgrade: () => (ws) => ws.on("close", (code, reason) => closedWith.push([code, String(reason)])) });
  const seen = reconnecting(t, server.url, { minDelay: 60_000 });
  await until(() => seen.opens.length === 1, "the socket to open");

  network.onLine = false;
  page.dispatchEvent(new Event("offline"));
  await until(() => closedWith.length === 1 && seen.closes === 1, "the socket to close");
  assert.deepEqual(closedWith[0], [CloseCode.Offline, "offline"]);
  assert.equal(seen.socket.current, null, "offline: no new attempt");

  network.onLine = true;
  page.dispatchEvent(new Event("online"));
  // With a first retry delay of a minute, an open within the wait means the online event reconnected.
  await until(() => seen.opens.length === 2, "the socket to reopen");
  assert.equal(server.upgrades.length, 2);
});

test("Going offline tells the socket closed and connecting at once, even while its close handshake cannot finish", async (t) => {
  const { page, network } = browserGlobals(t);
  // The server stops reading, as a network gone offline would: the client's close frame is never answered.
  const server = await serve(t, { upgrade: (_, n) => (ws) => n === 1 && ws._socket.pause() });
  const seen = reconnecting(t, server.url, { minDelay: 60_000 });
  await until(() => seen.opens.length === 1, "the socket to open");
  const connectingBefore = seen.connecting;

  network.onLine = false;
  page.dispatchEvent(new Event("offline"));
  assert.equal(seen.closes, 1, "told closed in the offline event");
  assert.equal(seen.connecting, connectingBefore + 1, "told connecting in the offline event");
  assert.equal(seen.socket.current, null, "offline: no new attempt");

  network.onLine = true;
  page.dispatchEvent(new Event("online"));
  await until(() => seen.opens.length === 2, "the socket to reopen");
  assert.equal(seen.closes, 1, "the first socket's late close is not told again");
});

test("closeCodes: 1009 and 1008 for frames the server does not accept are final, other closes are not", () => {
  assert.equal(closeIsFinal(CloseCode.MessageTooBig, "message larger than 1024 bytes"), true);
  assert.equal(closeIsFinal(CloseCode.PolicyViolation, "patch ids must go up by one"), true);
  assert.equal(closeIsFinal(CloseCode.PolicyViolation, "bad relay.v1 frame: no header"), true);
  for (const reason of ["slow consumer", "message rate limit exceeded", "byte rate limit exceeded", "message not finished in time"]) {
    assert.equal(closeIsFinal(CloseCode.PolicyViolation, reason), false, reason);
  }
  for (const code of [1000, 1001, 1006, 1007, 1011, 1013, 4000, 4001]) assert.equal(closeIsFinal(code, ""), false, String(code));
  assert.deepEqual([400, 401, 403, 404, 426, 429, 500, 503].filter(refusalIsFinal), [400, 401, 403]);
});
