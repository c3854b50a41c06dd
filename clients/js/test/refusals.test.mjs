// What a retry cannot fix stops the client for good: HTTP 400, 401 and 403 before the upgrade, and a close code
// that the same patches would get again (1009, a patch over the size limit).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { connect } from "../dist/index.js";
import { Gateway, until } from "./gateway.mjs";

const gateway = new Gateway({
  "Relay:Auth:Token": "a-long-random-secret",
  "Relay:AllowedOrigins:0": "http://app.example",
  "Relay:MaxMessageBytes": "1024",
});
before(() => gateway.start());
after(() => gateway.dispose());

/** ws with an Origin header, as a browser page of `origin` would send. */
const from = (origin) =>
  class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { origin });
    }
  };

/** Connects and waits for the client to stop; counts its attempts. */
async function stopped(url, SocketClass) {
  let attempts = 0;
  const Counted = class extends SocketClass {
    constructor(...args) {
      super(...args);
      attempts++;
    }
  };
  const stops = [];
  const client = connect(url, { WebSocket: Counted, minDelay: 50, onStop: (stop) => stops.push(stop) });
  await until(() => stops.length === 1, "the client to stop");
  return { stop: stops[0], client, attempts };
}

const token = "access_token=a-long-random-secret";

test("A document name the server refuses (400) stops the client at once", async () => {
  const { stop, client, attempts } = await stopped(`${gateway.url}/bad//name?${token}`, from("http://app.example"));
  assert.deepEqual([stop.reason, stop.code], ["refused", 400]);
  assert.equal(client.status, "closed");
  assert.equal(attempts, 1);
  assert.equal(client.send("x"), false, "a stopped client takes no patches");
});

test("A missing token (401) and a foreign origin (403) stop the client at once", async () => {
  const unauthenticated = await stopped(`${gateway.url}/doc`, from("http://app.example"));
  assert.deepEqual([unauthenticated.stop.reason, unauthenticated.stop.code, unauthenticated.attempts], ["refused", 401, 1]);
  const foreign = await stopped(`${gateway.url}/doc?${token}`, from("http://evil.example"));
  assert.deepEqual([foreign.stop.reason, foreign.stop.code, foreign.attempts], ["refused", 403, 1]);
});

test("A patch over the server's size limit (1009) stops the client rather than resending it forever", async (t) => {
  const stops = [];
  const joins = [];
  const client = connect(`${gateway.url}/doc?${token}`, {
    WebSocket: from("http://app.example"),
    minDelay: 50,
    onJoin: (join) => joins.push(join),
    onStop: (stop) => stops.push(stop),
  });
  t.after(() => client.close());
  await until(() => joins.length === 1, "the client to join");
  assert.ok(client.send("x".repeat(2000)));
  await until(() => stops.length === 1, "the client to stop");
  assert.deepEqual([stops[0].reason, stops[0].code], ["rejected", 1009]);
  assert.equal(joins.length, 1, "it did not reconnect");
});
