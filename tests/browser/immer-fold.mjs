// Folds patch logs with the real Immer, for the differential check of Relay's compaction (ImmerDifferentialSpecs).
// Usage: node immer-fold.mjs LOGS.json OUT.json
//   LOGS.json: [{"initial": STATE, "patches": [PATCH_ARRAY, ...]}, ...], each PATCH_ARRAY as a client sends it
//   OUT.json:  [{"state": STATE} | {"failedAt": INDEX, "error": MESSAGE}, ...], one per log, in order
import { readFileSync, writeFileSync } from "node:fs";
import { applyPatches, enablePatches, setAutoFreeze } from "immer";

enablePatches();
// Freezing changes nothing of the values and only costs time here.
setAutoFreeze(false);

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node immer-fold.mjs LOGS.json OUT.json");
  process.exit(2);
}

const results = JSON.parse(readFileSync(input, "utf8")).map(({ initial, patches }) => {
  let state = initial;
  for (let i = 0; i < patches.length; i++) {
    try {
      state = applyPatches(state, patches[i]);
    } catch (error) {
      return { failedAt: i, error: String(error?.message ?? error) };
    }
  }
  return { state };
});
writeFileSync(output, JSON.stringify(results));
console.log(JSON.stringify({ logs: results.length, failed: results.filter((r) => "failedAt" in r).length }));
