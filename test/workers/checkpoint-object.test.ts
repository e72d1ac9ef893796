/**
 * A checkpoint root mirrored by its Durable Object inside workerd: the
 * generator's state-v2 chain on the SOURCE bucket copied to MIRROR over
 * several budgeted alarms, sound and byte for byte the source's; a target
 * holding another namespace stops the loop (SplitBrain) with nothing
 * written, and so does a root in the layout before state-v2 (NotSupported); the status, attempts and metrics routes; the configuration's
 * checks (vitest.config.ts declares the roots lam, foreign and old).
 */
import { createExecutionContext, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, assert, describe, it, vi } from "vitest";
import { CheckpointStore } from "../../src/checkpoint/checkpoint-store.ts";
import { NAMESPACE_KEY, STATE_V2_PREFIX } from "../../src/checkpoint/state-v2/keys.ts";
import { R2Store } from "../../src/store/r2.ts";
import type { ObjectStore } from "../../src/store/types.ts";
import { checkpointSetup } from "../../worker/checkpoint-config.ts";
import type { CheckpointObjectStatus } from "../../worker/checkpoint-state.ts";
import { tableSetup } from "../../worker/config.ts";
import type { Env } from "../../worker/env.ts";
import worker from "../../worker/index.ts";
import { tableRegistry } from "../../worker/tables.ts";
import { assertTargetSound } from "../contract/checkpoint-mirror.contract.ts";
import bundleText from "../fixtures/laminardb-state-v2.json?raw";
import { collect } from "../support/harness.ts";
import { bytesOf, parseBundle, writeRoot } from "../support/state-v2-fixtures.ts";
import { ADMIN, BASE, driveAlarms, READ } from "./support.ts";

const bundle = parseBundle(bundleText);
const chain = new Map(Object.entries(bundle.bases.chain ?? {}).map(([k, v]) => [k, bytesOf(v)]));
const stubOf = (root: string) => env.CHECKPOINT_OBJECT.get(env.CHECKPOINT_OBJECT.idFromName(root));
const storeOf = (bucket: "SOURCE" | "MIRROR", root: string) =>
  new R2Store(env[bucket], { prefix: `cp-roots/${root}/`, name: `${bucket}/cp-roots/${root}` });

/** Every object under state-v2/, key to bytes. */
async function contents(store: ObjectStore): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const m of await collect(store.list(STATE_V2_PREFIX))) {
    out.set(m.key, await (await store.get(m.key)).bytes());
  }
  return out;
}

function assertSameContents(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): void {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs`);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("checkpoint roots in the worker", () => {
  it("a durable object mirrors a state-v2 root over several alarms within its budget: sound, byte for byte the source's", async () => {
    const source = storeOf("SOURCE", "lam");
    const target = storeOf("MIRROR", "lam");
    await writeRoot(source, chain);
    const stub = stubOf("lam");
    const perAlarm: number[] = [];
    const alarms = await driveAlarms(
      stub,
      async () => (await stub.status("lam")).caughtUp,
      async () => {
        perAlarm.push((await stub.status("lam")).lastAlarm?.requests ?? -1);
      },
    );
    const st = await stub.status("lam");
    assert.isAtLeast(alarms, 3, "the budget of 12 requests spreads the root over several alarms");
    // Each alarm within the root's budget (the mirror reserves a step's requests before it starts).
    for (const n of perAlarm) assert.isTrue(n > 0 && n <= 12, `an alarm made ${n} requests`);
    assert.equal(st.targetNewestSealed, "3");
    assert.equal(st.sourceNewest, "3");
    assert.equal(st.counters?.attempts, 3);
    assert.deepEqual(st.candidate, {
      epoch: "3",
      restorable: true,
      chain: ["3", "2", "1"],
      why: "attempt 3 and its ancestors 2, 1 are sealed on the target, above its floor",
    });
    assert.equal(st.lagSeconds, 0);
    assert.isNull(st.stopped);
    assert.isNumber(st.nextAlarmMs, "caught up, the loop polls on");
    await assertTargetSound(target, "lam's target");
    assertSameContents(await contents(source), await contents(target));

    // The routes: private, and a read credential sees the root, its status and its attempts.
    assert.equal((await SELF.fetch(`${BASE}/api/checkpoints/lam/status`)).status, 401);
    const list = await SELF.fetch(`${BASE}/api/checkpoints`, { headers: READ });
    assert.deepEqual(await list.json(), { roots: ["foreign", "lam", "old"] });
    const status = (await (
      await SELF.fetch(`${BASE}/api/checkpoints/lam/status`, { headers: READ })
    ).json()) as CheckpointObjectStatus;
    assert.equal(status.candidate?.epoch, "3");
    const attempts = await SELF.fetch(`${BASE}/api/checkpoints/lam/attempts?check=full`, { headers: READ });
    assert.equal(attempts.status, 200);
    const report = (await attempts.json()) as {
      ok: boolean;
      side: string;
      candidate: { epoch: string; restorable: boolean };
      problems: unknown[];
      checked: { hashed: number };
      attempts: Array<{
        epoch: string;
        state: string;
        partials: number;
        descriptors: number;
        bytes: number;
        seal: { vnodes: number; parents: string[] } | null;
        lineage: { chain: string[]; missing: string[] };
      }>;
    };
    assert.equal(report.side, "target");
    assert.isTrue(report.ok);
    assert.deepEqual(report.problems, []);
    assert.equal(report.checked.hashed, 11, "9 partials and 2 descriptors hashed");
    assert.deepEqual(report.candidate.epoch, "3");
    assert.deepEqual(
      report.attempts.map((a) => [
        a.epoch,
        a.state,
        a.partials,
        a.descriptors,
        a.seal?.parents,
        a.lineage.chain,
      ]),
      [
        ["1", "sealed", 3, 0, [], ["1"]],
        ["2", "sealed", 3, 0, ["1"], ["2", "1"]],
        ["3", "sealed", 3, 2, ["2"], ["3", "2", "1"]],
      ],
    );
    const targetBytes = [...(await contents(target))]
      .filter(([k]) => k.startsWith("state-v2/epoch=3/"))
      .reduce((n, [, v]) => n + v.length, 0);
    assert.equal(report.attempts[2]?.bytes, targetBytes, "an attempt's bytes: its objects and its seal");
    const fromSource = await SELF.fetch(`${BASE}/api/checkpoints/lam/attempts?side=source`, {
      headers: READ,
    });
    assert.equal(((await fromSource.json()) as { store: string }).store, "SOURCE/cp-roots/lam");
    const bad = await SELF.fetch(`${BASE}/api/checkpoints/lam/attempts?side=both`, { headers: READ });
    assert.equal(bad.status, 400);
    assert.equal((await SELF.fetch(`${BASE}/api/checkpoints/nope/status`, { headers: READ })).status, 404);

    const metrics = await (await SELF.fetch(`${BASE}/metrics`, { headers: READ })).text();
    assert.include(metrics, 'tidemark_checkpoint_up{root="lam"} 1');
    assert.include(metrics, 'tidemark_checkpoint_caught_up{root="lam"} 1');
    assert.include(metrics, 'tidemark_checkpoint_target_newest_epoch{root="lam"} 3');
    assert.include(metrics, 'tidemark_checkpoint_restorable{root="lam"} 1');
    assert.include(metrics, 'tidemark_checkpoint_attempts_total{root="lam"} 3');
  });

  it("a target holding another namespace stops the loop with SplitBrain and an alert, writing nothing; a kick after the fix resumes", async () => {
    const source = storeOf("SOURCE", "foreign");
    const target = storeOf("MIRROR", "foreign");
    await writeRoot(source, chain);
    const other = bundle.cases["single-root"]?.objects[NAMESPACE_KEY];
    assert.ok(other, "the generator's single-root case has a namespace");
    const foreign = bytesOf(other);
    assert.notDeepEqual(foreign, chain.get(NAMESPACE_KEY), "the two fixtures are different deployments");
    await target.put(NAMESPACE_KEY, foreign);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const stub = stubOf("foreign");
    await driveAlarms(stub, async () => (await stub.status("foreign")).stopped !== null);
    const st = await stub.status("foreign");
    assert.equal(st.stopped?.code, "SplitBrain");
    assert.isNull(st.nextAlarmMs, "a stopped loop sets no alarm");
    assert.isTrue(
      errors.mock.calls.some((c) => String(c[0]).includes("ALERT checkpoint root foreign")),
      "an alert line is logged",
    );
    assertSameContents(new Map([[NAMESPACE_KEY, foreign]]), await contents(target));
    const metrics = await (await SELF.fetch(`${BASE}/metrics`, { headers: READ })).text();
    assert.include(metrics, 'tidemark_checkpoint_stopped{root="foreign"} 1');

    // The operator empties the target; a kick (admin) starts the loop again. An admin table whose
    // target lies inside the root's (the registry records it) holds the new mirror back until removed.
    await target.delete(NAMESPACE_KEY);
    await tableRegistry(env).add("cp-overlap", undefined, "r2:MIRROR/cp-roots/foreign/nested/");
    assert.equal((await SELF.fetch(`${BASE}/api/checkpoints/foreign/kick`, { method: "POST" })).status, 401);
    const kicked = await SELF.fetch(`${BASE}/api/checkpoints/foreign/kick`, {
      method: "POST",
      headers: ADMIN,
    });
    assert.isNull(((await kicked.json()) as CheckpointObjectStatus).stopped);
    assert.isTrue(await runDurableObjectAlarm(stub));
    assert.match(
      (await stub.status("foreign")).lastError?.message ?? "",
      /CHECKPOINT_CONFIG\.foreign\.target overlaps the target of table cp-overlap/,
    );
    assertSameContents(new Map(), await contents(target));
    await tableRegistry(env).remove("cp-overlap");
    await driveAlarms(stub, async () => (await stub.status("foreign")).caughtUp);
    assertSameContents(await contents(source), await contents(target));
  });

  it("a root in the layout before state-v2 stops the loop with NotSupported saying so, writing nothing (the Worker mirrors state-v2 only)", async () => {
    const source = storeOf("SOURCE", "old");
    const target = storeOf("MIRROR", "old");
    const cp = new CheckpointStore(source, { instanceId: "node-1", vnodeCapacity: 1 });
    await cp.writePartial(0, 1, 0, new TextEncoder().encode("state"));
    assert.isTrue(await cp.sealEpoch(1, [0]));
    vi.spyOn(console, "error").mockImplementation(() => {});
    const stub = stubOf("old");
    await driveAlarms(stub, async () => (await stub.status("old")).stopped !== null);
    const st = await stub.status("old");
    assert.equal(st.stopped?.code, "NotSupported");
    assert.match(st.stopped?.message ?? "", /before state-v2.*copies LaminarDB's state-v2 layout/);
    assert.deepEqual(await collect(target.list("")), []);
  });

  it("a root's configuration is checked field by field, and no root shares keys with a table", () => {
    const withRoots = (config: unknown) => ({ ...env, CHECKPOINT_CONFIG: JSON.stringify(config) }) as Env;
    const refused = (f: () => unknown, pattern: RegExp) => {
      try {
        f();
      } catch (e) {
        assert.match(String((e as Error).message), pattern);
        return;
      }
      assert.fail(`expected ${pattern}`);
    };
    const ok = { source: "r2://SOURCE/cp/a", target: "r2://MIRROR/cp/a" };
    refused(
      () => checkpointSetup(withRoots({ a: { ...ok, budget: { requests: 0 } } }), "a"),
      /CHECKPOINT_CONFIG\.a\.budget\.requests/,
    );
    refused(
      () => checkpointSetup(withRoots({ a: { ...ok, push: true } }), "a"),
      /CHECKPOINT_CONFIG\.a\.unknown key "push"/,
    );
    refused(
      () => checkpointSetup(withRoots({ a: { source: ok.source } }), "a"),
      /CHECKPOINT_CONFIG\.a\.target is required/,
    );
    refused(
      () => checkpointSetup(withRoots({ a: { ...ok, target: "r2://NOPE/x" } }), "a"),
      /CHECKPOINT_CONFIG\.a\.target: no R2 bucket is bound as NOPE/,
    );
    refused(() => checkpointSetup(withRoots({ a: ok }), "b"), /no checkpoint root b/);
    // The SOURCE_TABLES layout owns r2://MIRROR/tables/.
    refused(
      () => checkpointSetup(withRoots({ a: { ...ok, target: "r2://MIRROR/tables/demo/cp" } }), "a"),
      /CHECKPOINT_CONFIG\.a\.target overlaps the target of table demo/,
    );
    refused(
      () =>
        checkpointSetup(
          withRoots({ a: ok, b: { source: "r2://SOURCE/cp/b", target: "r2://MIRROR/cp" } }),
          "b",
        ),
      /CHECKPOINT_CONFIG\.b\.target overlaps the target of checkpoint root a/,
    );
    // A table whose target holds a root's keys is refused too.
    refused(
      () =>
        tableSetup(withRoots({ a: ok }), "t", {
          source: { url: "r2://SOURCE/t" },
          target: { url: "r2://MIRROR/cp/a/t" },
        }),
      /target overlaps the target of checkpoint root a/,
    );
    assert.equal(
      checkpointSetup(withRoots({ a: ok }), "a").settings.budget.requests,
      300,
      "the vars' budget",
    );
  });

  it("a read token scoped by READ_TOKEN_TABLES reads the roots it names; a CHECKPOINT_CONFIG that does not parse leaves the tables' metrics up", async () => {
    const call = async (e: Env, path: string) => {
      const r = await worker.fetch(
        new Request(`${BASE}${path}`, { headers: READ }),
        e,
        createExecutionContext(),
      );
      return { status: r.status, body: await r.text() };
    };
    const scoped = { ...env, READ_TOKEN_TABLES: "demo,foreign" } as Env;
    assert.deepEqual(JSON.parse((await call(scoped, "/api/checkpoints")).body), { roots: ["foreign"] });
    const denied = await call(scoped, "/api/checkpoints/lam/attempts");
    assert.equal(denied.status, 403);
    assert.match(JSON.parse(denied.body).message, /does not cover checkpoint root lam/);
    assert.equal((await call(scoped, "/api/checkpoints/foreign/status")).status, 200);
    const metrics = await call(scoped, "/metrics");
    assert.include(metrics.body, 'tidemark_checkpoint_up{root="foreign"} 1');
    assert.notInclude(metrics.body, 'root="lam"');

    const broken = { ...env, CHECKPOINT_CONFIG: "{ not json" } as Env;
    const list = await call(broken, "/api/checkpoints");
    assert.equal(list.status, 400);
    assert.match(JSON.parse(list.body).message, /CHECKPOINT_CONFIG must be a JSON object/);
    const up = await call(broken, "/metrics");
    assert.equal(up.status, 200);
    assert.include(up.body, 'tidemark_mirror_up{table="demo"}');
    assert.include(up.body, "tidemark_checkpoint_config_valid 0");
    // A table cannot be checked against the roots' targets then: it is refused, naming the var.
    assert.throws(
      () => tableSetup(broken, "t", { source: { url: "r2://SOURCE/t" }, target: { url: "r2://MIRROR/t" } }),
      /CHECKPOINT_CONFIG must be a JSON object/,
    );
  });
});
