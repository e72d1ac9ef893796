/**
 * Request counts of the checkpoint store (metered MemoryStore, 1,000 entries
 * per list page, as S3 and R2), against a faithful re-implementation of
 * LaminarDB's object-store backend (`latest_committed_epoch`: one listing of
 * the whole store filtered on `/_COMMIT`; `epoch_complete`: HEAD the marker,
 * list the epoch, create the marker).
 *
 *   npx node bench/checkpoint.ts
 */
import {
  CHECKPOINT_HINT_KEY,
  CheckpointStore,
  checkpointCommitKey,
  forEachLimit,
  MemoryStore,
  type MeteredStore,
  metered,
  type ObjectStore,
  type RequestCounts,
} from "../src/index.ts";

const EPOCHS = 100;
const VNODES = 64;
const BIG = 1000;
const bytes = new Uint8Array(256);

function fmt(c: RequestCounts): string {
  const parts = (["list", "head", "get", "put", "deleteMany"] as const)
    .filter((k) => c[k] > 0)
    .map((k) => `${c[k]} ${k}`);
  const total = c.list + c.head + c.get + c.put + c.delete + c.deleteMany;
  return `${total} request${total === 1 ? "" : "s"} (${parts.join(" + ") || "none"})`;
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

const rows: [string, string, string][] = [];

// --- latestCommittedEpoch: 100 sealed epochs x 64 vnodes -----------------------
{
  const m = metered(new MemoryStore());
  const writer = new CheckpointStore(m, { instanceId: "writer", vnodeCapacity: VNODES });
  const all = Array.from({ length: VNODES }, (_, i) => i);
  for (let e = 1; e <= EPOCHS; e++) {
    await forEachLimit(all, 16, (v) => writer.writePartial(v, e, 0, bytes));
    if (!(await writer.sealEpoch(e, all))) throw new Error(`epoch ${e} not sealed`);
  }
  const reader = new CheckpointStore(m, { instanceId: "reader", vnodeCapacity: VNODES });
  const ours = await measure(m, () => reader.latestCommittedEpoch());
  const theirs = await measure(m, () => laminarLatest(m));
  if (ours.r !== EPOCHS || theirs.r !== EPOCHS) throw new Error(`wrong answer ${ours.r} / ${theirs.r}`);
  rows.push([
    `latestCommittedEpoch, ${EPOCHS} epochs x ${VNODES} vnodes, hint current`,
    fmt(ours.c),
    fmt(theirs.c),
  ]);

  // The committer crashed after sealing, before raising the hint, 5 times in a row.
  await m.put(CHECKPOINT_HINT_KEY, String(EPOCHS - 5));
  const stale = await measure(m, () => reader.latestCommittedEpoch());
  rows.push(["  same, hint 5 epochs stale (crashes before the hint update)", fmt(stale.c), fmt(theirs.c)]);

  await m.delete(CHECKPOINT_HINT_KEY);
  const none = await measure(m, () => reader.latestCommittedEpoch());
  if (none.r !== EPOCHS) throw new Error(`fallback answered ${none.r}`);
  rows.push(["  same, hint missing (listing fallback)", fmt(none.c), fmt(theirs.c)]);
}

// --- sealEpoch: 1,000 vnodes -------------------------------------------------------
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
  rows.push([`sealEpoch, ${BIG} vnodes, a partial missing (poll)`, fmt(missing.c), fmt(lamMissing.c)]);

  const first = await measure(m, () => cp.sealEpoch(1, all));
  const lamFirst = await measure(lam, () => laminarEpochComplete(lam, "node-0", 1, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, first seal (a gap: hint raised first)`,
    fmt(first.c),
    fmt(lamFirst.c),
  ]);

  const steady = await measure(m, () => cp.sealEpoch(2, all));
  const lamSteady = await measure(lam, () => laminarEpochComplete(lam, "node-0", 2, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, steady state (predecessor sealed by us)`,
    fmt(steady.c),
    fmt(lamSteady.c),
  ]);

  const cold = new CheckpointStore(m, { instanceId: "node-0", vnodeCapacity: BIG });
  const restart = await measure(m, () => cold.sealEpoch(3, all));
  rows.push([
    `sealEpoch, ${BIG} vnodes, after a restart (predecessor sealed)`,
    fmt(restart.c),
    fmt(lamSteady.c),
  ]);

  const gap = await measure(m, () => cold.sealEpoch(10, all));
  rows.push([`sealEpoch, ${BIG} vnodes, after a gap (epochs 4-9 unsealed)`, fmt(gap.c), fmt(lamSteady.c)]);

  const again = await measure(m, () => cp.sealEpoch(2, all));
  const lamAgain = await measure(lam, () => laminarEpochComplete(lam, "node-0", 2, all));
  rows.push([`sealEpoch, ${BIG} vnodes, already sealed (repeat call)`, fmt(again.c), fmt(lamAgain.c)]);
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
    "2 requests (1 list + 1 deleteMany)",
  ]);
}

const w0 = Math.max(...rows.map((r) => r[0].length));
const w1 = Math.max(...rows.map((r) => r[1].length), "tidemark".length);
console.log(`${"case".padEnd(w0)}  ${"tidemark".padEnd(w1)}  LaminarDB (re-implemented)`);
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
