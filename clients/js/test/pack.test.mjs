// The package as a user gets it: `npm pack`, the tarball installed into an empty folder (with ws from the registry),
// and the README's Node quick start (the block after `<!-- quickstart.mjs -->`) run as it stands against a real Gateway.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { Gateway, until } from "./gateway.mjs";

const run = promisify(execFile);
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const own = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const gateway = new Gateway();
const folder = mkdtempSync(join(tmpdir(), "relay-client-pack-"));
before(() => gateway.start());
after(async () => {
  await gateway.dispose();
  rmSync(folder, { recursive: true, force: true });
});

function quickStart() {
  const readme = readFileSync(join(packageDir, "README.md"), "utf8");
  const block = readme.split("<!-- quickstart.mjs -->")[1]?.match(/```js\n([\s\S]*?)```/);
  assert.ok(block, "README.md has no quickstart.mjs block");
  return block[1];
}

test("The packed tarball installs into an empty folder and the README's quick start runs as it stands", async () => {
  const packed = join(folder, "packed");
  mkdirSync(packed);
  await run("npm", ["pack", "--pack-destination", packed, "--loglevel=error"], { cwd: packageDir, timeout: 120_000 });
  const tarballs = readdirSync(packed).filter((name) => name.endsWith(".tgz"));
  assert.equal(tarballs.length, 1, `npm pack wrote ${tarballs.join(", ")}`);

  const app = join(folder, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "quickstart", private: true, type: "module" }));
  await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--loglevel=error", join(packed, tarballs[0]), `ws@${own.devDependencies.ws}`],
    { cwd: app, timeout: 180_000 },
  );
  writeFileSync(join(app, "quickstart.mjs"), quickStart());

  const document = "quickstart/todo";
  const { stdout } = await run("node", ["quickstart.mjs", `${gateway.url}/${document}`], { cwd: app, timeout: 30_000 });

  assert.match(stdout, /joined with relay\.v1; the history has 0 patches/);
  assert.match(stdout, /mine #1: \[\{"op":"add","path":\["items","\d+"\]/);
  assert.match(stdout, /stopped: closed/);
  await until(async () => (await gateway.status(document)).lastSequence === 1, "the patch to be journaled");
});
