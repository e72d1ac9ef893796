/**
 * `npm test`: every check, in order, with the services they need.
 *
 * 1. static checks: generated code is current, types, lint;
 * 2. starts the S3 servers on loopback: Ceph RGW and moto (two: signatures
 *    unchecked and checked), side by side (CI=true: a server failing to start
 *    fails the run; locally its suites skip loudly, naming what is missing);
 * 3. vitest: the projects "node", "workers" (inside workerd) and "e2e" (real
 *    binaries, packaging, Chromium, `npm start`);
 * 4. deno test;
 * 5. checks that docs/conformance.md is what this run's doctor reports say;
 * and always stops the servers. Ends with one line "N passed, N failed".
 *
 * `node scripts/test.ts --only vitest,deno` runs a subset of the steps.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type MotoService, missingMoto, startMoto } from "../test/services/moto.ts";
import { missingRgwBinaries, type RgwService, startRgw } from "../test/services/rgw.ts";

const root = join(import.meta.dirname, "..");
const outDir = join(root, "test-output");
mkdirSync(outDir, { recursive: true });
const ci = process.env.CI === "true";
const onlyArg = process.argv.indexOf("--only");
const only = onlyArg >= 0 ? new Set((process.argv[onlyArg + 1] ?? "").split(",")) : undefined;

let passed = 0;
let failed = 0;
const failures: string[] = [];

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    child.on("error", () => resolve(127));
  });
}

async function step(name: string, fn: () => Promise<boolean>): Promise<void> {
  if (only && !only.has(name)) return;
  const t0 = Date.now();
  console.log(`\n=== ${name} ===`);
  let ok = false;
  try {
    ok = await fn();
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
  }
  console.log(`=== ${name}: ${ok ? "ok" : "FAILED"} (${((Date.now() - t0) / 1000).toFixed(1)} s) ===`);
  if (!ok) failures.push(name);
}

/** A step that is one command; counts as one test. */
const command = (name: string, cmd: string, args: string[], env?: Record<string, string>) =>
  step(name, async () => {
    const ok = (await run(cmd, args, env)) === 0;
    if (ok) passed++;
    else failed++;
    return ok;
  });

let rgw: RgwService | undefined;
let moto: MotoService | undefined;
const stopAll = async () => {
  const [r, m] = [rgw, moto];
  rgw = undefined;
  moto = undefined;
  await Promise.all([r?.stop(), m?.stop()]);
};
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void stopAll().then(() => process.exit(130));
  });
}

try {
  if (existsSync(join(root, "scripts/check-gen.ts"))) {
    await command("gen", "node", ["scripts/check-gen.ts"]);
  }
  await command("typecheck", "npm", ["run", "-s", "typecheck"]);
  await command("lint", "npm", ["run", "-s", "lint"]);

  const needsServices = !only || only.has("vitest") || only.has("deno");
  let serviceEnv: Record<string, string> = {};
  /** Starts one server beside the others; under CI=true a failure to start fails the run. */
  const service = async <T extends { env: Record<string, string> }>(
    name: string,
    start: () => Promise<T>,
    missing: () => string[],
    flag: string,
  ): Promise<T | undefined> => {
    const absent = missing();
    const t0 = Date.now();
    try {
      const s = await start();
      console.log(`${name} ready in ${Date.now() - t0} ms`);
      serviceEnv = { ...serviceEnv, ...s.env, [flag]: "1" };
      return s;
    } catch (e) {
      const why = absent.length ? `missing: ${absent.join(" ")}` : (e as Error).message;
      if (ci) {
        console.error(`FAIL: ${name} did not start and CI=true (${why})`);
        failed++;
        failures.push(name);
      } else {
        console.warn(`\n!!!!!! ${name} did not start (${why}): its suites will be SKIPPED !!!!!!\n`);
      }
      return undefined;
    }
  };
  if (needsServices) {
    // Side by side: RGW takes ~2 s, moto ~1 s.
    [rgw, moto] = await Promise.all([
      service("Ceph RGW", () => startRgw(), missingRgwBinaries, "TIDEMARK_RGW"),
      service("moto", () => startMoto(), missingMoto, "TIDEMARK_MOTO"),
    ]);
  }

  await step("vitest", async () => {
    const report = join(outDir, "vitest.json");
    const code = await run(
      "npx",
      ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile=${report}`],
      serviceEnv,
    );
    if (existsSync(report)) {
      const r = JSON.parse(readFileSync(report, "utf8")) as {
        numPassedTests: number;
        numFailedTests: number;
      };
      passed += r.numPassedTests;
      failed += r.numFailedTests;
    } else {
      failed++;
    }
    return code === 0;
  });

  await step("deno", async () => {
    const chunks: string[] = [];
    const code = await new Promise<number>((resolve) => {
      // --parallel: one test file per core at a time; the files mostly wait on the S3 servers
      // (361 s one at a time, 216 s in parallel, side by side on the shared 2-core machine).
      const child = spawn("npx", ["deno", "test", "-A", "--no-check", "--parallel", "test/deno/"], {
        cwd: root,
        env: { ...process.env, ...serviceEnv, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "inherit"],
      });
      child.stdout.on("data", (d: Buffer) => {
        process.stdout.write(d);
        chunks.push(d.toString());
      });
      child.on("exit", (c) => resolve(c ?? 1));
    });
    const m = /(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(chunks.join(""));
    if (m) {
      passed += Number(m[2]);
      failed += Number(m[3]);
    } else {
      failed++;
    }
    return code === 0;
  });

  // The conformance matrix is generated from this run (test/support/conformance.ts):
  // the page must say what the doctor just measured.
  await command("conformance", "node", ["scripts/conformance.ts", "--check", join(outDir, "vitest.json")]);
} finally {
  await stopAll();
}

if (failures.length) console.log(`\nfailed steps: ${failures.join(", ")}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failures.length || failed ? 1 : 0);
