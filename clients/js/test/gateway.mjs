// A real Relay Gateway process on 127.0.0.1 for the tests, as tests/Relay.Testing/RelayNode.cs starts one: the
// built Release Gateway, its own HTTP port, Akka port and SQLite file; stop it (SIGKILL) and start it again on the
// same port and file. Build it first: dotnet build Relay.sln -c Release. RELAY_GATEWAY_DLL names another build
// (another checkout's, say) to run instead. And the original Node.js relay, for the raw fallback.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as dial, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const gatewayDll = process.env.RELAY_GATEWAY_DLL ?? join(root, "src/Gateway/bin/Release/net10.0/Relay.Gateway.dll");
// The runtime settings of every test node (less CPU, same behaviour), as tests/Relay.Testing/RelayNode.cs reads them.
const testNodeEnvironment = Object.fromEntries(
  readFileSync(join(root, "tests/Relay.Testing/test-node.env"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);

/**
 * A free TCP port on loopback for a process started later. Picked at random from 10000 to 19999: below the kernel's
 * ephemeral range (32768 and up), where another process's outgoing connection could take a port handed out but not
 * yet bound, and apart from the .NET tests' ports (20000 to 31999, tests/Relay.Testing/FreePort.cs), which run
 * beside these. Each port is handed out once per process.
 */
const handed = new Set();
export async function freePort() {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 10_000);
    if (handed.has(port)) continue;
    const free = await new Promise((done) => {
      const server = createServer();
      server.once("error", () => done(false));
      server.listen(port, "127.0.0.1", () => server.close(() => done(true)));
    });
    if (free) {
      handed.add(port);
      return port;
    }
  }
}

/** Waits until `condition()` is truthy, checking every 25 ms, for at most `ms`; throws naming `what` otherwise. */
export async function until(condition, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class Gateway {
  /** settings: extra `Relay:...` keys, passed as `--key=value`. */
  constructor(settings = {}) {
    if (!existsSync(gatewayDll)) throw new Error(`${gatewayDll} is missing: run dotnet build Relay.sln -c Release`);
    this.settings = settings;
    this.folder = mkdtempSync(join(tmpdir(), "relay-client-test-"));
    this.output = [];
    this.process = null;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}`;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the process (on the same port and file as before, if it ran already) and waits until it is ready. */
  async start() {
    this.port ??= await freePort();
    const akkaPort = await freePort();
    const args = [
      gatewayDll,
      `--urls=http://127.0.0.1:${this.port}`,
      "--Relay:Akka:Hostname=127.0.0.1",
      `--Relay:Akka:Port=${akkaPort}`,
      `--Relay:Journal:ConnectionString=Data Source=${join(this.folder, "relay.db")}`,
      "--Logging:LogLevel:Default=Warning",
      ...Object.entries(this.settings).map(([key, value]) => `--${key}=${value}`),
    ];
    const env = { ...process.env, DOTNET_gcServer: "0", ...testNodeEnvironment };
    const child = spawn("dotnet", args, { cwd: dirname(gatewayDll), env });
    this.process = child;
    const record = (chunk) => this.output.push(String(chunk));
    child.stdout.on("data", record);
    child.stderr.on("data", record);
    const exited = new Promise((r) => child.once("exit", (code) => r(code)));
    this.exited = exited;
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`the Gateway exited with ${child.exitCode}:\n${this.output.join("")}`);
      try {
        const answer = await fetch(`${this.httpUrl}/`, { signal: AbortSignal.timeout(2000) });
        return answer.ok && (await answer.json()).status === "ready";
      } catch {
        return false;
      }
    }, "the Gateway to be ready", 60_000);
  }

  /** SIGKILLs the process and waits until it is gone. */
  async kill() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill("SIGKILL");
    await this.exited;
  }

  /** Kills the process and starts it again on the same port with an empty journal: every history is replaced. */
  async restartOnEmptyJournal() {
    await this.kill();
    rmSync(this.folder, { recursive: true, force: true });
    this.folder = mkdtempSync(join(tmpdir(), "relay-client-test-"));
    await this.start();
  }

  /** `GET /{document}`: the document's status, `lastSequence` included. */
  async status(document) {
    const answer = await fetch(`${this.httpUrl}/${document}`);
    return answer.json();
  }

  /**
   * Whether this build has presence (docs/protocol.md, "Presence and broadcasts"): its /metrics names
   * relay_presence_clients, as an older build's does not. For the tests that need it, to skip on an older build.
   */
  async speaksPresence() {
    const metrics = await (await fetch(`${this.httpUrl}/metrics`)).text();
    return metrics.includes("relay_presence_clients");
  }

  async dispose() {
    await this.kill();
    rmSync(this.folder, { recursive: true, force: true });
  }
}

/**
 * The original Node.js relay (bench/Relay.Bench/reference/seed-relay.mjs, on ws, in memory), run from a folder under
 * this package's node_modules so that its `import "ws"` finds this package's ws.
 */
export class SeedRelay {
  async start() {
    this.folder = mkdtempSync(join(root, "clients/js/node_modules/.cache-seed-relay-"));
    copyFileSync(join(root, "bench/Relay.Bench/reference/seed-relay.mjs"), join(this.folder, "seed-relay.mjs"));
    this.port = await freePort();
    this.process = spawn("node", ["seed-relay.mjs"], { cwd: this.folder, env: { ...process.env, PORT: String(this.port) } });
    let output = "";
    this.process.stdout.on("data", (chunk) => (output += chunk));
    this.process.stderr.on("data", (chunk) => (output += chunk));
    await until(() => output.includes("listening"), "the seed relay to listen");
  }

  get url() {
    return `ws://127.0.0.1:${this.port}`;
  }

  dispose() {
    this.process?.kill();
    if (this.folder) rmSync(this.folder, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy on loopback in front of the port `target`, that records each connection as the server sees it:
 * `upgraded` once the server's answer starts with `101`, `closed` once either side ended it. It shows what a client
 * opened and closed on the wire, which neither a client's callbacks nor a browser's console can tell for sure.
 */
export class ConnectionLog {
  connections = [];
  #sockets = new Set();
  #server = createServer((inbound) => {
    const connection = { upgraded: false, closed: false };
    this.connections.push(connection);
    const outbound = dial(this.target, "127.0.0.1");
    this.#sockets.add(inbound).add(outbound);
    let answer = "";
    outbound.on("data", (chunk) => {
      if (answer.length < 12) {
        answer += chunk.toString("latin1");
        connection.upgraded ||= /^HTTP\/1\.1 101/.test(answer);
      }
    });
    const end = () => {
      connection.closed = true;
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on("close", end).on("error", end);
    outbound.on("close", end).on("error", end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });

  constructor(target) {
    this.target = target;
  }

  async start() {
    await new Promise((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = this.#server.address().port;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}`;
  }

  dispose() {
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }
}
