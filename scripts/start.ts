/**
 * `npm start`: the worker locally, offline, with a demo writer.
 *
 * 1. builds the browser inspector bundle (worker/public/inspector.js);
 * 2. copies .dev.vars.example to .dev.vars if there is none (the admin token),
 *    and adds a random local `READ_TOKEN` and `SIGNING_KEY` if it has none
 *    (reads are private: the printed inspector URL carries the read token in
 *    its fragment, which the browser never sends to a server);
 * 3. runs `wrangler dev` on 127.0.0.1 with local R2 and Durable Objects,
 *    `DEMO_WRITER=1` (the admin commit route is off without it) and the demo
 *    layout (`SOURCE_TABLES=1`: table t is tables/t/ in SOURCE, mirrored to MIRROR),
 *    persisted to a fresh temporary directory (removed on exit), with
 *    Cloudflare's `Request.cf` fetch and metrics off: no network, no credentials;
 * 4. once it answers, commits a synthetic snapshot into SOURCE every few
 *    seconds through the admin commit route, to the demo table (orders, an
 *    Int64 key) and to `inventory` (a composite text key); each table's
 *    MirrorObject mirrors them into MIRROR, and the inspector page shows it live;
 * 5. prints the URL, and the inspector URL already authorised. Ctrl-C
 *    (SIGINT) or SIGTERM stops everything.
 *
 * Environment: PORT (default 8787, or a free one if taken), DEMO_TABLE
 * (default "demo"), DEMO_INTERVAL_MS (default 3000; 0 = no demo writer),
 * KEEP_STATE=1 keeps the persistence directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildInspector } from "./build-inspector.ts";

const root = join(import.meta.dirname, "..");
/** The second demo table: a composite text key. */
const INVENTORY_TABLE = "inventory";

function freePort(preferred?: number): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => {
      // Taken: let the OS pick one.
      const any = createServer();
      any.listen(0, "127.0.0.1", () => {
        const p = (any.address() as { port: number }).port;
        any.close(() => resolve(p));
      });
    });
    srv.listen(preferred ?? 0, "127.0.0.1", () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** A local secret of .dev.vars (`undefined` when the file or the name is not there). */
export function devVar(name: string): string | undefined {
  const file = join(root, ".dev.vars");
  if (!existsSync(file)) return undefined;
  const m = new RegExp(`^${name}\\s*=\\s*"?([^"\\n]*)"?\\s*$`, "m").exec(readFileSync(file, "utf8"));
  return m?.[1];
}

/**
 * Adds `name` with a random value to .dev.vars unless it is there: local
 * secrets a developer never has to invent, and never shared between checkouts.
 */
function ensureDevVar(name: string, bytes: number, log: (l: string) => void): string {
  const have = devVar(name);
  if (have) return have;
  const value = randomBytes(bytes).toString("base64url");
  const file = join(root, ".dev.vars");
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  appendFileSync(file, `${text === "" || text.endsWith("\n") ? "" : "\n"}${name}=${value}\n`);
  log(`tidemark: added a random local ${name} to .dev.vars`);
  return value;
}

/** Options of {@link startDev}. */
export interface StartOptions {
  /** Preferred port (default 8787; a free one if taken; 0: any free one). */
  port?: number;
  /** The demo writer's orders table (default "demo"; the `inventory` table is written beside it). */
  table?: string;
  /** Milliseconds between demo commits (default 3000; 0: no demo writer). */
  intervalMs?: number;
  /** Keep the persistence directory on stop. */
  keepState?: boolean;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
  /** More vars for `wrangler dev` (`--var NAME:value`), e.g. `CHECKPOINT_CONFIG`. */
  vars?: Record<string, string>;
  /** Runs with the persistence directory before `wrangler dev` starts (to put objects into its local buckets). */
  beforeStart?: (persistDir: string) => Promise<void>;
}

/** A running dev server. */
export interface DevServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The inspector, authorised: `http://127.0.0.1:PORT/#token=READ_TOKEN` (the fragment never leaves the browser). */
  inspectorUrl: string;
  /** The local read token (.dev.vars), for `Authorization: Bearer` on the read routes. */
  readToken: string;
  /** Seconds from the call to readiness. */
  readySeconds: number;
  /** Stops the demo writer and wrangler (its whole process group); idempotent. */
  stop(): Promise<void>;
  /** Resolves when wrangler exits. */
  exited: Promise<number>;
}

/** Builds the inspector, starts `wrangler dev` and the demo writer; resolves when the API answers. */
export async function startDev(opts: StartOptions = {}): Promise<DevServer> {
  const t0 = Date.now();
  const log = opts.log ?? ((l: string) => console.log(l));
  const table = opts.table ?? "demo";
  const intervalMs = opts.intervalMs ?? 3000;
  // The demo tables and their schemas (the demo writer's `schema` option).
  const tables = [
    { name: table, schema: "orders" },
    ...(table === INVENTORY_TABLE ? [] : [{ name: INVENTORY_TABLE, schema: "inventory" }]),
  ];
  const sizes = await buildInspector();
  if (!existsSync(join(root, ".dev.vars"))) {
    copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
    log("tidemark: created .dev.vars from .dev.vars.example (local admin token)");
  }
  const token = devVar("ADMIN_TOKEN");
  const readToken = ensureDevVar("READ_TOKEN", 24, log);
  ensureDevVar("SIGNING_KEY", 32, log);
  const port = await freePort(opts.port ?? 8787);
  const inspectorPort = await freePort();
  const persist = mkdtempSync(join(tmpdir(), "tidemark-dev-"));
  const base = `http://127.0.0.1:${port}`;
  await opts.beforeStart?.(persist);

  let writer: ReturnType<typeof setTimeout> | undefined;
  let stopping = false;
  const child: ChildProcess = spawn(
    process.execPath, // Node 24 from node_modules/.bin (npm start puts it first on PATH)
    [
      join(root, "node_modules/wrangler/bin/wrangler.js"),
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--persist-to",
      persist,
      // The admin commit route (this demo writer's) is off unless DEMO_WRITER=1.
      "--var",
      "DEMO_WRITER:1",
      // The demo's layout: tables under tables/ in SOURCE, the demo table listed before its first commit.
      "--var",
      "SOURCE_TABLES:1",
      "--var",
      `TABLES:${tables.map((t) => t.name).join(",")}`,
      ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      "--show-interactive-dev-session=false",
      "--log-level",
      process.env.WRANGLER_LOG_LEVEL ?? "error",
    ],
    {
      cwd: root,
      detached: true, // its own process group: stop() signals workerd too
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_SEND_METRICS: "false",
        NO_COLOR: "1",
      },
    },
  );
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  const cleanup = () => {
    if (!opts.keepState) rmSync(persist, { recursive: true, force: true });
  };
  void exited.then(cleanup);

  const signal = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    stopping = true;
    if (writer) clearTimeout(writer);
    if (child.exitCode !== null || child.signalCode !== null) return;
    signal("SIGTERM");
    const killer = setTimeout(() => signal("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killer);
    // workerd may outlive wrangler by a moment: make sure the group is gone.
    signal("SIGKILL");
  };

  // Ready when the API answers.
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`wrangler dev exited (${child.exitCode}) before it was ready`);
    try {
      const r = await fetch(`${base}/api/tables`, { headers: { Authorization: `Bearer ${readToken}` } });
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > 60_000) {
      await stop();
      throw new Error("wrangler dev did not become ready within 60 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const commitOnce = async (): Promise<void> => {
    for (const t of tables) {
      try {
        const r = await fetch(`${base}/api/tables/${t.name}/commit`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token ?? ""}`, "Content-Type": "application/json" },
          body: JSON.stringify({ files: 2, rows: 100, compactAt: 4, schema: t.schema }),
        });
        const body = (await r.json()) as { version?: number; message?: string };
        if (r.ok) log(`tidemark: demo writer committed ${t.name} v${body.version}`);
        else log(`tidemark: demo commit to ${t.name} failed: ${r.status} ${body.message ?? ""}`);
      } catch (e) {
        if (!stopping) log(`tidemark: demo commit to ${t.name} failed: ${(e as Error).message}`);
      }
    }
    if (!stopping && intervalMs > 0) writer = setTimeout(() => void commitOnce(), intervalMs);
  };

  const readySeconds = (Date.now() - t0) / 1000;
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const inspectorUrl = `${base}/?table=${encodeURIComponent(table)}#token=${encodeURIComponent(readToken)}`;
  log(
    `tidemark: ready at ${base}/ in ${readySeconds.toFixed(1)} s ` +
      `(inspector page ${kb(sizes.page.gzip)} min+gzip; state in ${persist}; Ctrl-C stops)`,
  );
  // The local read token, on purpose: this URL is for the developer's own browser.
  log(`tidemark: inspector (authorised with the local READ_TOKEN): ${inspectorUrl}`);
  if (intervalMs > 0) {
    if (!token) log("tidemark: no ADMIN_TOKEN in .dev.vars: the demo writer will be refused");
    void commitOnce();
  }
  return { url: base, inspectorUrl, readToken, readySeconds, stop, exited };
}

if (import.meta.main) {
  let server: DevServer | undefined;
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    void (server?.stop() ?? Promise.resolve()).then(() => process.exit(code));
  };
  process.on("SIGINT", () => shutdown(0));
  process.on("SIGTERM", () => shutdown(0));
  try {
    const opts: StartOptions = { intervalMs: Number(process.env.DEMO_INTERVAL_MS ?? 3000) };
    if (process.env.PORT) opts.port = Number(process.env.PORT);
    if (process.env.DEMO_TABLE) opts.table = process.env.DEMO_TABLE;
    if (process.env.KEEP_STATE === "1") opts.keepState = true;
    server = await startDev(opts);
    void server.exited.then((code) => {
      if (!stopping) {
        console.error(`tidemark: wrangler dev exited (${code})`);
        process.exit(code || 1);
      }
    });
  } catch (e) {
    console.error(`tidemark: ${(e as Error).message}`);
    process.exit(1);
  }
}
