/**
 * Reading and verifying LaminarDB checkpoint roots, on any store: the roots
 * test/support/laminardb_state_v2.py wrote from the documented layout (Python,
 * no code shared with the decoder), each judged exactly as the generator says
 * (the damaged objects by key and rule, the warnings, the restore candidate).
 */
import assert from "node:assert/strict";
import { verifyCheckpoints } from "../../src/checkpoint/verify.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import type { Harness } from "../support/harness.ts";
import { type ExpectedFinding, type FixtureBundle, rootOf, writeRoot } from "../support/state-v2-fixtures.ts";

export interface StateV2ContractOptions {
  /** Only these cases (remote stores: the decoding is store-independent, the reads are not). */
  cases?: readonly string[];
  /** The cases verified again without hashes (ranged reads of headers; default: `cases`). */
  headersOnlyCases?: readonly string[];
  timeoutMs?: number;
}

/** Of {@link STORE_CASES}, those whose headers-only reads (ranged GETs) tell something of the store. */
export const HEADERS_ONLY_CASES = ["floor-leftovers", "large-payload", "wrong-hash", "short-object"] as const;

/** Cases that exercise the store (listing, sizes, ranged and streamed reads) rather than the decoder. */
export const STORE_CASES = [
  "floor-leftovers",
  "big-epochs",
  "large-payload",
  "wrong-hash",
  "short-object",
  "seal-missing-partial",
  "strays",
  "legacy",
] as const;

const show = (fs: readonly ExpectedFinding[]) =>
  fs
    .map((f) => `${f.rule} ${f.key}`)
    .sort()
    .join("\n");

export function stateV2Contract(
  h: Harness,
  bundle: FixtureBundle,
  makeStore: () => ObjectStore | Promise<ObjectStore>,
  opts: StateV2ContractOptions = {},
): void {
  const t = { timeoutMs: opts.timeoutMs ?? 60_000 };
  const names = opts.cases ?? Object.keys(bundle.cases);

  for (const name of names) {
    const c = bundle.cases[name];
    if (!c) throw new Error(`no fixture case ${name}`);
    h.test(
      `fixture ${name} (${c.description}) is judged as its generator says`,
      async () => {
        const store = await makeStore();
        await writeRoot(store, rootOf(bundle, c));
        const r = await verifyCheckpoints(store);
        assert.equal(r.layout, c.layout);
        assert.equal(show(r.problems), show(c.expect.problems), `${name}: problems`);
        assert.equal(show(r.warnings), show(c.expect.warnings), `${name}: warnings`);
        assert.equal(r.ok, c.expect.ok);
        assert.equal(
          r.candidate === null ? null : String(r.candidate.epoch),
          c.expect.candidate,
          `${name}: candidate`,
        );
        assert.equal(r.restorable, c.expect.restorable ?? false, `${name}: restorable (${r.candidate?.why})`);
        for (const p of r.problems) assert.ok(p.message.length > 0, `${p.key}: a message`);
        if (r.layout === "state-v2") {
          // Every partial and descriptor above the floor was read whole and hashed; none below it.
          const live = r.attempts.filter((a) => a.state !== "below-floor");
          assert.equal(
            r.checked.hashed,
            live.reduce((n, a) => n + a.partials + a.descriptors, 0),
          );
        }
      },
      t,
    );
  }

  h.test(
    "without hashes, only payload digests go unchecked: every other finding stays",
    async () => {
      for (const name of opts.headersOnlyCases ?? names) {
        const c = bundle.cases[name];
        if (c?.layout !== "state-v2") continue;
        const store = await makeStore();
        await writeRoot(store, rootOf(bundle, c));
        const r = await verifyCheckpoints(store, { hashes: false });
        const expected = c.expect.problems.filter((p) => !p.rule.endsWith("-sha256"));
        assert.equal(show(r.problems), show(expected), `${name}: problems without hashes`);
        if (r.layout === "state-v2") assert.equal(r.checked.hashed, 0);
      }
    },
    t,
  );
}
