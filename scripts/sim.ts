/**
 * `npm run sim`: the history-integrity simulation as a soak (test/support/sim.ts).
 *
 *   npm run sim                                  100,000 sequences from a random seed
 *   npm run sim -- --runs 5000 --seed 42         a given number and seed
 *   npm run sim -- --seed 42 --path "37:A"       replay one failure (printed on failure)
 *   npm run sim -- --seed 42 --path "37:A" --verbose   ... with each command and the mirrors' status
 *   npm run sim -- --server-side-copy            every store copies server-side (the mirror's copy path)
 *
 * Prints the seed first, progress as it goes, and on failure the shrunk
 * counterexample and the one-line command that replays it. Exit 1 on failure.
 */
import { parseArgs } from "node:util";
import * as fc from "fast-check";
import { type SimulationOptions, simulationProperty, viewReads } from "../test/support/sim.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seed: { type: "string" },
    path: { type: "string" },
    replay: { type: "string" },
    verbose: { type: "boolean", default: false },
    "server-side-copy": { type: "boolean", default: false },
  },
});
const intFlag = (name: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!/^-?[0-9]+$/.test(v)) {
    console.error(`sim: --${name} must be an integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return Number(v);
};
const seed = intFlag("seed", values.seed, (Math.random() * 2 ** 31) | 0);
const runs = intFlag("runs", values.runs, values.path ? 1 : 100_000);
let done = 0;
const t0 = Date.now();
const opts: SimulationOptions = {
  verbose: values.verbose,
  serverSideCopy: values["server-side-copy"],
  ...(values.replay ? { replayPath: values.replay } : {}),
  onRun: () => {
    done++;
    if (done % 5_000 === 0) {
      const s = (Date.now() - t0) / 1000;
      console.log(`sim: ${done} sequences in ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s)`);
    }
  },
};

console.log(
  `sim: seed ${seed}, ${runs} sequences of 30 to 60 commands${values["server-side-copy"] ? ", server-side copies" : ""}${values.path ? `, path ${values.path}` : ""}`,
);
const property = simulationProperty(opts);
const details = await fc.check(property, {
  numRuns: runs,
  seed,
  timeout: 20_000,
  ...(values.path ? { path: values.path } : {}),
});
const secs = ((Date.now() - t0) / 1000).toFixed(1);
console.log(
  `sim: Iceberg view readers read ${viewReads.snapshots} snapshots (${viewReads.timeTravel} by time travel, ${viewReads.midTick} in the middle of a tick), checked the rows of ${viewReads.rowsChecked} (${viewReads.positionDeletes} position deletes applied)`,
);
if (!details.failed) {
  console.log(
    `sim: ${details.numRuns} sequences passed in ${secs} s (seed ${seed}); invariants held after every command`,
  );
  process.exit(0);
}
console.log(fc.defaultReportMessage(details));
// fc.commands prints its own replay path inside the counterexample.
const replay = /replayPath="([^"]*)"/.exec(String(details.counterexample?.[0]))?.[1];
console.log(`\nsim: FAILED after ${details.numRuns} sequences in ${secs} s. Replay:`);
console.log(
  `  npm run sim -- --seed ${details.seed} --path "${details.counterexamplePath}"${replay ? ` --replay "${replay}"` : ""}${values["server-side-copy"] ? " --server-side-copy" : ""} --verbose`,
);
process.exit(1);
