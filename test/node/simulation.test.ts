/**
 * The history-integrity simulation (see test/support/sim.ts): 2,000 seeded
 * random command sequences of 30 to 60 commands, the nine invariants checked
 * after every command. `npm run sim` runs the soak (100,000 sequences).
 */
import * as fc from "fast-check";
import { describe, it } from "vitest";
import { simulationProperty } from "../support/sim.ts";

const RUNS = Number(process.env.SIM_RUNS ?? 2_000);
const SEED = Number(process.env.SIM_SEED ?? 20261130);

describe("history integrity simulation", () => {
  it(`${RUNS} random sequences of 30+ commands keep the nine invariants (seed ${SEED})`, async () => {
    await fc.assert(simulationProperty(), { numRuns: RUNS, seed: SEED, endOnFailure: false });
  }, 600_000);

  it(`${RUNS / 4} sequences with server-side copies (the mirror's copy path) keep them too (seed ${SEED})`, async () => {
    await fc.assert(simulationProperty({ serverSideCopy: true }), {
      numRuns: RUNS / 4,
      seed: SEED,
      endOnFailure: false,
    });
  }, 600_000);
});
