/**
 * Request counts of the checkpoint store (metered MemoryStore, 1,000 entries
 * per list page, as S3 and R2), against faithful re-implementations of
 * LaminarDB's object-store backend (`latest_committed_epoch`: one listing of
 * the whole store filtered on `/_COMMIT`; `epoch_complete`: HEAD the marker,
 * list the epoch, create the marker) and, for `latestCommittedEpoch`, of
 * tidemark's previous algorithm (GET the `_LATEST` hint, HEAD its marker,
 * then HEAD upward until a miss).
 *
 * Requests are counted by class as object stores bill them: read (GET, HEAD)
 * and write/list (PUT, DELETE, LIST, bulk delete).
 *
 *   npx node bench/checkpoint.ts
 */

import { checkpointCommitKey } from "../src/checkpoint/layout.ts";
import {
  CheckpointStore,
  MemoryStore,
  type MeteredStore,
  metered,
  type ObjectStore,
  type RequestCounts,
} from "../src/index.ts";
import { forEachLimit } from "../src/store/batch.ts";
import { headline } from "./result.ts";

const EPOCHS = 100;
const VNODES = 64;
const BIG = 1000;
const bytes = new Uint8Array(256);
const HINT = "_LATEST";

const total = (c: RequestCounts) => c.list + c.head + c.get + c.put + c.delete + c.deleteMany;

function fmt(c: RequestCounts): string {
  const parts = (["list", "head", "get", "put", "deleteMany"] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k}`);
  return `${total(c)} (${parts.join(" + ") || "none"}; ${c.readClass} read, ${c.writeClass} write/list)`;
}

async function measure(
  m: MeteredStore,
  fn: () => Promise<unknown>,
): Promise<{ c: RequestCounts; r: unknown }> {
  m.reset();
  const r = await fn();
  return { c: m.counts(), r };
}

// --- LaminarDB, re-implemented request for request -----------------------------
async function laminarLatest(store: ObjectStore): Promise<number | null> {
  let highest: number | null = null;
  for await (const m of store.list("")) {
    if (!m.key.endsWith("/_COMMIT")) continue;
    const first = m.key.split("/")[0] ?? "";
    if (!first.startsWith("epoch=")) continue;
    const e = Number(first.slice("epoch=".length));
    if (Number.isInteger(e)) highest = highest === null ? e : Math.max(highest, e);
  }
  return highest;
}

async function laminarEpochComplete(store: ObjectStore, id: string, epoch: number, vnodes: number[]) {
  const commit = checkpointCommitKey(epoch);
  try {
    await store.head(commit);
    return (await (await store.get(commit)).text()) === id;
  } catch {}
  const found = new Set<string>();
  for await (const m of store.list(`epoch=${epoch}/`)) found.add(m.key);
  for (const v of vnodes) if (!found.has(`epoch=${epoch}/vnode=${v}/partial.bin`)) return false;
  await store.put(commit, id, { mode: "create" });
  return true;
}

/** A LaminarDB node sealing `epoch` (plain partial puts, a create-only marker, no hint). */
async function laminarSeal(store: ObjectStore, epoch: number, vnodes: number, seal: boolean): Promise<void> {
  for (let v = 0; v < vnodes; v++) await store.put(`epoch=${epoch}/vnode=${v}/partial.bin`, bytes);
  if (seal) await store.put(checkpointCommitKey(epoch), "laminar-node", { mode: "create" });
}

// --- tidemark before this change, re-implemented request for request ----------
// GET _LATEST; HEAD its marker, then HEAD upward until a miss; a missing marker
// probes 2 below, then falls back to the listing the current version always does.
async function sealed(store: ObjectStore, e: number): Promise<boolean> {
  try {
    await store.head(checkpointCommitKey(e));
    return true;
  } catch {
    return false;
  }
}
async function oldLatest(store: ObjectStore): Promise<number | null> {
  let hint = -1;
  try {
    const t = (await (await store.get(HINT)).text()).trim();
    if (/^(0|[1-9][0-9]*)$/.test(t)) hint = Number(t);
  } catch {}
  if (hint >= 0) {
    if (await sealed(store, hint)) {
      let top = hint;
      while (await sealed(store, top + 1)) top++;
      return top;
    }
    for (let e = hint - 1; e >= 0 && e >= hint - 2; e--) if (await sealed(store, e)) return e;
  }
  return new CheckpointStore(store, { instanceId: "old-fallback", vnodeCapacity: 1 }).latestCommittedEpoch();
}

const rows: [string, string, string, string][] = [];
const same = (x: unknown, want: unknown, what: string) => {
  if (x !== want) throw new Error(`${what}: answered ${String(x)}, want ${String(want)}`);
};

// --- latestCommittedEpoch -----------------------------------------------------------
{
  const m = metered(new MemoryStore());
  const writer = new CheckpointStore(m, { instanceId: "writer", vnodeCapacity: VNODES });
  const all = Array.from({ length: VNODES }, (_, i) => i);
  for (let e = 1; e <= EPOCHS; e++) {
    await forEachLimit(all, 16, (v) => writer.writePartial(v, e, 0, bytes));
    if (!(await writer.sealEpoch(e, all))) throw new Error(`epoch ${e} not sealed`);
  }
  // What the previous version kept current after every seal.
  await m.put(HINT, String(EPOCHS));
  const reader = new CheckpointStore(m, { instanceId: "reader", vnodeCapacity: VNODES });
  const row = async (label: string, want: number) => {
    const ours = await measure(m, () => reader.latestCommittedEpoch());
    const old = await measure(m, () => oldLatest(m));
    const lam = await measure(m, () => laminarLatest(m));
    same(ours.r, want, `${label} (tidemark)`);
    same(lam.r, want, `${label} (LaminarDB)`);
    const oldCell = old.r === want ? fmt(old.c) : `${fmt(old.c)} WRONG: ${String(old.r)}`;
    rows.push([label, `${fmt(ours.c)} -> ${String(ours.r)}`, oldCell, `${fmt(lam.c)} -> ${String(lam.r)}`]);
    return { ours: ours.c, lam: lam.c };
  };
  const common = await row(
    `latestCommittedEpoch, ${EPOCHS} sealed epochs x ${VNODES} vnodes (old: hint current)`,
    EPOCHS,
  );
  headline({
    "latestCommittedEpoch requests": total(common.ours),
    "LaminarDB requests": total(common.lam),
  });

  await forEachLimit(all, 16, (v) => writer.writePartial(v, EPOCHS + 1, 0, bytes));
  await row("  same, epoch 101 in flight (partials, no marker yet)", EPOCHS);

  // The gap case: a LaminarDB node seals 102 and 104 and abandons 103, never touching the hint.
  await m.put(HINT, String(EPOCHS));
  await laminarSeal(m, EPOCHS + 2, VNODES, true);
  await laminarSeal(m, EPOCHS + 3, VNODES, false);
  await laminarSeal(m, EPOCHS + 4, VNODES, true);
  await row("  same, then LaminarDB sealed 102 and 104, abandoned 103 (hint 100)", EPOCHS + 4);

  // 12 unsealed epochs on top: past 8 HEADs, the full listing.
  for (let e = EPOCHS + 5; e <= EPOCHS + 16; e++) await laminarSeal(m, e, VNODES, false);
  await row("  same, then 12 unsealed epochs on top (105-116)", EPOCHS + 4);
}

// Exactly the measurement quoted in the issue: hint 3, LaminarDB sealed 4 and 6, abandoned 5.
{
  const m = metered(new MemoryStore());
  const cp = new CheckpointStore(m, { instanceId: "writer", vnodeCapacity: 2 });
  for (let e = 1; e <= 3; e++) {
    for (const v of [0, 1]) await cp.writePartial(v, e, 0, bytes);
    await cp.sealEpoch(e, [0, 1]);
  }
  await m.put(HINT, "3");
  await laminarSeal(m, 4, 2, true);
  await laminarSeal(m, 5, 2, false);
  await laminarSeal(m, 6, 2, true);
  const ours = await measure(m, () => cp.latestCommittedEpoch());
  const old = await measure(m, () => oldLatest(m));
  const lam = await measure(m, () => laminarLatest(m));
  same(ours.r, 6, "issue case (tidemark)");
  rows.push([
    "latestCommittedEpoch, hint 3, LaminarDB sealed 4 and 6, abandoned 5",
    `${fmt(ours.c)} -> ${String(ours.r)}`,
    `${fmt(old.c)} -> ${String(old.r)}${old.r === 6 ? "" : " (WRONG)"}`,
    `${fmt(lam.c)} -> ${String(lam.r)}`,
  ]);
}

// --- sealEpoch: 1,000 vnodes -------------------------------------------------------
// The previous version raised the _LATEST hint on every seal (a compare-and-swap PUT)
// and, unless it had sealed the predecessor itself, HEADed the predecessor's marker
// and read the hint first. Its figures, measured by this script before the change:
const OLD_SEAL = {
  first: "5 (1 list + 1 head + 1 get + 2 put; 2 read, 3 write/list)",
  steady: "3 (1 list + 2 put; 0 read, 3 write/list)",
  restart: "5 (1 list + 1 head + 1 get + 2 put; 2 read, 3 write/list)",
  gap: "4 (1 list + 1 head + 2 put; 1 read, 3 write/list)",
};
{
  const m = metered(new MemoryStore());
  const all = Array.from({ length: BIG }, (_, i) => i);
  const cp = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: BIG });
  for (const e of [1, 2, 3, 10]) await forEachLimit(all, 16, (v) => cp.writePartial(v, e, 0, bytes));
  const lam = metered(new MemoryStore());
  for (const e of [1, 2]) {
    await forEachLimit(all, 16, async (v) => {
      await lam.put(`epoch=${e}/vnode=${v}/partial.bin`, bytes);
    });
  }

  const missing = await measure(m, () => cp.sealEpoch(4, all));
  const lamMissing = await measure(lam, () => laminarEpochComplete(lam, "node-0", 4, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, a partial missing (poll)`,
    fmt(missing.c),
    "(unchanged)",
    fmt(lamMissing.c),
  ]);

  const first = await measure(m, () => cp.sealEpoch(1, all));
  const lamFirst = await measure(lam, () => laminarEpochComplete(lam, "node-0", 1, all));
  rows.push([`sealEpoch, ${BIG} vnodes, first seal`, fmt(first.c), OLD_SEAL.first, fmt(lamFirst.c)]);

  const steady = await measure(m, () => cp.sealEpoch(2, all));
  const lamSteady = await measure(lam, () => laminarEpochComplete(lam, "node-0", 2, all));
  headline({ [`sealEpoch requests (${BIG} vnodes, steady)`]: total(steady.c) });
  rows.push([
    `sealEpoch, ${BIG} vnodes, steady state (predecessor sealed by us)`,
    fmt(steady.c),
    OLD_SEAL.steady,
    fmt(lamSteady.c),
  ]);

  const cold = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: BIG });
  const restart = await measure(m, () => cold.sealEpoch(3, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, after a restart (predecessor sealed)`,
    fmt(restart.c),
    OLD_SEAL.restart,
    fmt(lamSteady.c),
  ]);

  const gap = await measure(m, () => cold.sealEpoch(10, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, after a gap (epochs 4-9 unsealed)`,
    fmt(gap.c),
    OLD_SEAL.gap,
    fmt(lamSteady.c),
  ]);

  const again = await measure(m, () => cp.sealEpoch(2, all));
  const lamAgain = await measure(lam, () => laminarEpochComplete(lam, "node-0", 2, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, already sealed (repeat call)`,
    fmt(again.c),
    "(unchanged)",
    fmt(lamAgain.c),
  ]);
  for (const r of [first, steady, restart, gap, again]) if (r.r !== true) throw new Error("seal failed");
}

// --- pruneBefore: one sealed epoch x 64 vnodes per pass --------------------------
{
  const m = metered(new MemoryStore());
  const all = Array.from({ length: VNODES }, (_, i) => i);
  const cp = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: VNODES });
  for (let e = 1; e <= 3; e++) {
    await forEachLimit(all, 16, (v) => cp.writePartial(v, e, 0, bytes));
    await cp.sealEpoch(e, all);
  }
  await cp.pruneBefore(2);
  const inc = await measure(m, () => cp.pruneBefore(3));
  rows.push([
    `pruneBefore, incremental pass, 1 sealed epoch x ${VNODES} vnodes`,
    fmt(inc.c),
    "(unchanged)",
    "2 (1 list + 1 deleteMany; 0 read, 2 write/list)",
  ]);
}

const head = [
  "case",
  "tidemark",
  "tidemark before (hint + upward probe)",
  "LaminarDB (re-implemented)",
] as const;
const widths = [0, 1, 2].map((i) => Math.max(head[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (r: readonly string[]) =>
  r
    .map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell))
    .join("  ")
    .trimEnd();
console.log(line(head));
for (const r of rows) console.log(line(r));
