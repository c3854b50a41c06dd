// The gift app through the three-node cluster behind nginx (scripts/cluster.sh), with the node that runs the
// document's sequencer SIGKILLed while two pages edit. Run by tests/Relay.Cluster.Tests (ClusterScriptSpecs):
//   node test/cluster-check.mjs ws://127.0.0.1:LB_PORT http://127.0.0.1:PORT1/,PID1 http://127.0.0.1:PORT2/,PID2 ...
// Prints one JSON line last: {"ok":true,...} or {"ok":false,"error":...}; exits 0 only when ok.
import { until } from "../../../clients/js/test/gateway.mjs";
import { AppHarness, addGift, connectionOf, converge, reserve } from "./app.mjs";

const [lb, ...nodeArgs] = process.argv.slice(2);
const nodes = nodeArgs.map((arg) => {
  const [http, pid] = arg.split(",");
  return { http: http.replace(/\/$/, ""), pid: Number(pid) };
});
const document = `gifts/cluster-${Date.now()}`;
const app = new AppHarness();
const closers = [];
const report = { document };

async function json(url) {
  const answer = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return answer.json();
}

try {
  if (!lb || nodes.length === 0) throw new Error("usage: cluster-check.mjs LB_WS_URL HTTP_URL,PID ...");
  await app.start();
  const open = (name) => app.open(`${lb}/${document}`, name, (close) => closers.push(close));
  const one = await open("one");
  const two = await open("two");
  await addGift(one, "Socks");
  await addGift(two, "Book");
  await converge([one, two], ["Socks", "Book"], 30_000);

  // The node that runs the document's sequencer, as the nodes' status pages list it.
  const host = await until(async () => {
    const hosts = [];
    for (const node of nodes) {
      try {
        if ((await json(`${node.http}/`)).sequencers.includes(document)) hosts.push(node);
      } catch {
        // not answering: not a host
      }
    }
    return hosts.length === 1 ? hosts[0] : null;
  }, `exactly one node to run the sequencer of ${document}`, 30_000);
  report.sequencerNode = host.http;

  // SIGKILL it while both pages edit; every edit shows at once and waits until the sequencer runs elsewhere.
  const killedAt = Date.now();
  process.kill(host.pid, "SIGKILL");
  await addGift(one, "Scarf");
  await reserve(two, "Book");
  await addGift(two, "Gloves");
  const expected = ["Socks", "Book (reserved)", "Scarf", "Gloves"];
  await converge([one, two], expected, 90_000);
  for (const page of [one, two]) {
    await until(async () => (await connectionOf(page)).text.includes("open") && (await connectionOf(page)).text.includes("0 pending"),
      `${page.name} to have every edit acknowledged`, 90_000);
  }
  report.convergedAfterKillMs = Date.now() - killedAt;

  // Every click is one patch in the history, as a surviving node reports it; a page opened now shows the same list.
  const survivor = nodes.find((node) => node !== host);
  const lastSequence = (await json(`${survivor.http}/${document}`)).lastSequence;
  if (lastSequence !== 5) throw new Error(`the history holds ${lastSequence} patches, not the 5 clicks`);
  const late = await open("late");
  await converge([one, two, late], expected, 30_000);
  const errors = [one, two, late].flatMap((page) => page.errors.map((error) => `${page.name}: ${error}`));
  if (errors.length > 0) throw new Error(`page errors: ${errors.join("; ")}`);
  report.pages = await Promise.all([one, two, late].map(async (page) => (await connectionOf(page)).text));
  console.log(JSON.stringify({ ok: true, ...report }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, ...report, error: String(error?.stack ?? error) }));
  process.exitCode = 1;
} finally {
  for (const close of closers) await close().catch(() => {});
  await app.stop();
}
