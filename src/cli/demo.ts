/**
 * The `memory:demo` store: a small table (three snapshots, one file removed
 * along the way) and checkpoint state (three sealed epochs and one in
 * progress), so every command can be tried without any storage.
 *
 * @module
 */
import { Catalog } from "../catalog/index.ts";
import { CheckpointStore } from "../checkpoint/index.ts";
import type { ObjectStore } from "../store/types.ts";

const encoder = new TextEncoder();

/** Fills `store` with the demo table and checkpoint epochs. */
export async function seedDemo(store: ObjectStore): Promise<void> {
  // merutable's table schema, so the demo table restores into something merutable opens.
  const catalog = await Catalog.open(store, {
    schema: {
      table_name: "demo",
      columns: [
        { name: "id", col_type: "Int64", nullable: false },
        { name: "payload", col_type: "ByteArray", nullable: true },
      ],
      primary_key: [0],
    },
  });
  const file = async (path: string, size: number) => {
    const bytes = new Uint8Array(size);
    bytes.set(encoder.encode(path).subarray(0, size));
    // Files before the manifest that references them, as on any primary.
    await store.put(path, bytes, { mode: "create" });
    return { path, fileSize: size, numRows: Math.ceil(size / 100) };
  };
  await catalog.commit({ add: [await file("data/part-00001.parquet", 4096)] });
  await catalog.commit({
    add: [await file("data/part-00002.parquet", 8192), await file("data/part-00003.parquet", 2048)],
  });
  await catalog.commit({
    add: [await file("data/part-00004.parquet", 12288)],
    remove: ["data/part-00001.parquet"],
    properties: { "demo.note": "compacted part-00001 away" },
  });

  const cp = new CheckpointStore(store, { instanceId: "demo-job-1", vnodeCapacity: 4 });
  for (let epoch = 1; epoch <= 4; epoch++) {
    for (let vnode = 0; vnode < 4; vnode++) {
      await cp.writePartial(vnode, epoch, 1, encoder.encode(`state of vnode ${vnode} at epoch ${epoch}`));
    }
    // Epoch 4 stays unsealed: a checkpoint in progress.
    if (epoch < 4) await cp.sealEpoch(epoch, [0, 1, 2, 3]);
  }
}
