/**
 * Runs after every workers test: no Durable Object alarm outlives the test
 * that scheduled it. The pool does not reset alarms between tests
 * (https://developers.cloudflare.com/workers/testing/vitest-integration/known-issues/#durable-object-alarms):
 * a table's loop left scheduled keeps ticking through the tests after it, and
 * an alarm still in flight when a file's runtime is torn down can hang the run.
 */
import { evictAllDurableObjects, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, afterEach } from "vitest";

async function deleteAlarms(): Promise<void> {
  const namespaces: DurableObjectNamespace[] = [env.MIRROR_OBJECT, env.TABLE_REGISTRY, env.CHECKPOINT_OBJECT];
  for (const ns of namespaces) {
    for (const id of await listDurableObjectIds(ns)) {
      await runInDurableObject(ns.get(id), (_instance, state) => state.storage.deleteAlarm());
    }
  }
}

afterEach(deleteAlarms);

afterAll(async () => {
  await deleteAlarms();
  // An alarm in flight schedules the next one when it ends: let every
  // object's work drain (eviction waits for it), then delete again, so the
  // file's runtime stops with nothing scheduled. (Not after every test: an
  // eviction drops the objects' memory, which a file's later tests read.)
  await evictAllDurableObjects();
  await deleteAlarms();
});
