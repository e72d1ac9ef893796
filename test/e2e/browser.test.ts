/**
 * The inspector in a real browser: Debian's Chromium driven by playwright-core
 * loads the page from `wrangler dev` (started as `npm start` does, with a
 * fast demo writer that commits real Parquet files with updates, deletes and
 * compactions). It checks that the page follows HEAD; that the table view
 * shows, at two versions, exactly the rows DuckDB gives with merutable's
 * projection for outside readers over the same files, that a deleted key is
 * not among them, and what each page of rows cost in HTTP requests; that the
 * row-level history between them is the difference of DuckDB's rows (an
 * insert, an update with its changed cells marked, a delete); that a file
 * preview shows the rows an independent reader (pyarrow, and duckdb again)
 * gets from the same file, within 3 HTTP requests and no HEAD; the history
 * of two snapshots; the lag chart; a public bucket on another origin typed
 * into the store field, with its error states (401, 404, not Parquet,
 * corrupt); the keyboard; a 375 px wide screen without horizontal
 * scrolling; no layout shift while loading; a table's Iceberg view panel; a LaminarDB
 * checkpoint root the worker mirrors (put into the local SOURCE bucket before it starts), its
 * attempts shown with seals, sizes and lineage.
 * Screenshots go to test-output/. Without Chromium or pyarrow the test is
 * skipped loudly, except under CI=true, where it fails.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type DevServer, devVar, startDev } from "../../scripts/start.ts";
import { readTableSchema, type TableSchema } from "../../src/catalog/schema.ts";
import { demoCommit } from "../../src/demo/writer.ts";
import {
  Catalog,
  diffManifests,
  HttpStore,
  liveDataFiles,
  MemoryStore,
  openMirror,
} from "../../src/index.ts";
import { jsonValue } from "../../src/rows/json.ts";
import type { Value } from "../../src/rows/values.ts";
import { fmtBytes } from "../../worker/public/dom.ts";
import { type BucketServer, serveBucket } from "../support/bucket-server.ts";
import { interopPython, type PeerValue, readParquetPeer } from "../support/parquet-peer.ts";
import { runHelper, type Tagged } from "../support/rows-fixture.ts";
import { bytesOf as fixtureBytes, parseBundle } from "../support/state-v2-fixtures.ts";

const root = join(import.meta.dirname, "../..");
const out = join(root, "test-output");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const ci = process.env.CI === "true";

if (!haveChromium && !ci) {
  console.warn(
    `\n!!!!!! ${CHROMIUM} not found (apt-get install chromium): the browser test is SKIPPED !!!!!!\n`,
  );
}
const python = haveChromium ? interopPython() : undefined;
const run = haveChromium || ci;

let server: DevServer | undefined;
let browser: BrowserContext | undefined;
let bucket: BucketServer | undefined;
const profile = mkdtempSync(join(tmpdir(), "tidemark-chromium-"));
const tmp = mkdtempSync(join(tmpdir(), "tidemark-browser-"));

beforeAll(async () => {
  if (!haveChromium) return;
  server = await startDev({
    port: 0,
    intervalMs: 1000,
    log: () => {},
    // A LaminarDB checkpoint root (the generator's three-attempt chain) the worker mirrors beside the tables.
    vars: {
      CHECKPOINT_CONFIG: JSON.stringify({
        laminar: { source: "r2://SOURCE/checkpoints/laminar", target: "r2://MIRROR/checkpoints/laminar" },
      }),
    },
    beforeStart: seedCheckpointRoot,
  });
  // A fresh profile directory per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await bucket?.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

/** A new page that records page errors and cumulative layout shift (without shifts right after input). */
async function newPage(viewport?: {
  width: number;
  height: number;
}): Promise<{ page: Page; errors: string[] }> {
  assert.ok(browser);
  const page = await browser.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.addInitScript(() => {
    const w = window as unknown as { __cls: number };
    w.__cls = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as Array<
        PerformanceEntry & { value: number; hadRecentInput: boolean }
      >) {
        if (!e.hadRecentInput) w.__cls += e.value;
      }
    }).observe({ type: "layout-shift", buffered: true });
  });
  return { page, errors };
}

const headOf = (page: Page) =>
  page.evaluate(() => Number(document.querySelector("#head")?.getAttribute("data-version") ?? 0));
const waitHead = (page: Page, atLeast: number) =>
  page.waitForFunction(
    (v) => Number(document.querySelector("#head")?.getAttribute("data-version") ?? 0) >= v,
    atLeast,
    { timeout: 45_000 },
  );

const bytesOf = (requests: Array<{ range: string | undefined }>) =>
  `${requests.reduce((n, r) => {
    const [a, b] = (r.range ?? "bytes=0--1").slice(6).split("-").map(Number);
    return n + (b ?? -1) - (a ?? 0) + 1;
  }, 0)} bytes read`;

/** The read credential `npm start` made (reads are private). */
const authOf = (s: { readToken: string }) => ({ Authorization: `Bearer ${s.readToken}` });

/** Previews `path` by keyboard: focus its button, press Enter; waits for the outcome. */
async function previewByKeyboard(page: Page, path: string): Promise<string> {
  await page.locator(`#files button[data-path="${path}"]`).focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    (p) =>
      document.querySelector("#preview-path")?.textContent === p &&
      !["loading", undefined].includes(
        (document.querySelector("#preview-status") as HTMLElement | null)?.dataset.kind,
      ),
    path,
    { timeout: 30_000 },
  );
  return (await page.locator("#preview-status").getAttribute("data-kind")) ?? "";
}

/** The preview's header and cells as the page shows them (text and canonical value). */
function shownRows(page: Page) {
  return page.evaluate(() => {
    const table = document.querySelector("#rows") as HTMLTableElement;
    return {
      columns: [...table.querySelectorAll("thead th")].map((th) => th.textContent ?? ""),
      visible: [...table.querySelectorAll("thead th")].map((th) => (th as HTMLElement).offsetParent !== null),
      rows: [...table.querySelectorAll("tbody tr")].map((tr) =>
        [...tr.querySelectorAll("td")].map((td) => ({
          text: td.textContent ?? "",
          value: JSON.parse(td.dataset.value ?? "null") as unknown,
        })),
      ),
    };
  });
}

/** A value DuckDB gave (tagged) as the page keeps it in `data-value`: the CLI's JSON form. */
function pageForm(schema: TableSchema, row: Tagged[]): unknown[] {
  return row.map((t, i) => {
    const type = schema.columns[i]?.col_type;
    let v: Value = null;
    if (t === null) v = null;
    else if ("b" in t) v = t.b;
    else if ("i" in t) v = type === "Int64" ? BigInt(t.i) : Number(t.i);
    else if ("f" in t) v = typeof t.f === "number" ? t.f : Number(t.f.replace("inf", "Infinity"));
    else if ("s" in t) v = t.s;
    else v = Buffer.from(t.x, "hex");
    return jsonValue(v, type);
  });
}

/**
 * The demo table at `versions` as DuckDB reads it with merutable's projection
 * for outside readers, over the same files (fetched from the mirror): the
 * oracle, in the page's value form.
 */
async function oracleRows(
  versions: number[],
): Promise<{ schema: TableSchema; rows: Map<number, unknown[][]> }> {
  assert.ok(server && python);
  const s = server;
  const reader = openMirror(new HttpStore(`${s.url}/objects/demo/`, { headers: authOf(s) }));
  const manifests = await Promise.all(versions.map((v) => reader.manifest(v)));
  const schema = readTableSchema(manifests[0]!, "demo");
  assert.ok(schema, "the demo's manifests carry merutable's schema");
  const dir = mkdtempSync(join(tmp, "oracle-"));
  const files = manifests.map((m) => liveDataFiles(m).map((f) => f.path));
  for (const p of new Set(files.flat())) {
    const r = await fetch(`${s.url}/objects/demo/${p}`, { headers: authOf(s) });
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), new Uint8Array(await r.arrayBuffer()));
  }
  const out = runHelper(python, "oracle", {
    schema,
    versions: files.map((f) => f.map((p) => join(dir, p))),
  }) as Tagged[][][];
  return {
    schema,
    rows: new Map(versions.map((v, i) => [v, (out[i] ?? []).map((r) => pageForm(schema, r))])),
  };
}

/** Waits until `status` (an element id) says it is done and its text matches `pattern`. */
const waitStatus = (page: Page, id: string, pattern: RegExp) =>
  page.waitForFunction(
    ([sel, src]) => {
      const s = document.getElementById(sel as string);
      return s?.dataset.kind === "ok" && new RegExp(src as string).test(s.textContent ?? "");
    },
    [id, pattern.source],
    { timeout: 30_000 },
  );

/** What a page of rows cost, as its status line says. */
const pageCost = (page: Page, id: string) =>
  page.evaluate((sel) => {
    const d = (document.getElementById(sel) as HTMLElement).dataset;
    return { requests: Number(d.requests), footers: Number(d.footers), rowGroups: Number(d.rowGroups) };
  }, id);

/** Range requests of the demo's data files a page sent (counted by the browser). */
function rangeRequests(page: Page): { count: () => number; reset: () => void } {
  let n = 0;
  page.on("request", (r) => {
    if (r.url().includes("/objects/demo/data/") && r.headers().range !== undefined) n++;
  });
  return { count: () => n, reset: () => (n = 0) };
}

/**
 * Every row of version `v` in the table view, page after page (each page's
 * cost as it says and the requests the browser saw).
 */
async function readAllRows(page: Page, v: number, seen: ReturnType<typeof rangeRequests>) {
  await page.selectOption("#snapshot", String(v));
  const rows: unknown[][] = [];
  const pages: Array<{ requests: number; footers: number; rowGroups: number; seen: number }> = [];
  seen.reset();
  await waitStatus(page, "rows-status", new RegExp(`^(Rows 1–|No rows).* of v${v} in key order:`));
  for (;;) {
    const shown = await page.evaluate(() =>
      [...document.querySelectorAll("#table-rows tbody tr")].map((tr) =>
        [...tr.querySelectorAll("td")].map((td) => JSON.parse(td.dataset.value ?? "null") as unknown),
      ),
    );
    rows.push(...shown);
    pages.push({ ...(await pageCost(page, "rows-status")), seen: seen.count() });
    if (await page.locator("#next-rows").isDisabled()) break;
    seen.reset();
    await page.click("#next-rows");
    await waitStatus(
      page,
      "rows-status",
      new RegExp(`^(Rows ${(rows.length + 1).toLocaleString("en-US")}–|No rows)`),
    );
  }
  return { rows, pages };
}

/** The row-level history shown, page after page: each change's op and cells. */
async function readAllChanges(page: Page, from: number, to: number) {
  await page.selectOption("#from", String(from));
  await page.selectOption("#to", String(to));
  const out: Array<{ op: string; cells: Array<{ value: unknown; before?: unknown; changed: boolean }> }> = [];
  await waitStatus(page, "row-changes-status", new RegExp(`^v${from} → v${to}: (changes 1–|no row)`));
  for (;;) {
    out.push(
      ...(await page.evaluate(() =>
        [...document.querySelectorAll("#row-changes tbody tr")].map((tr) => ({
          op: (tr as HTMLElement).dataset.op ?? "",
          cells: [...tr.querySelectorAll("td:not(.op)")].map((td) => {
            const d = (td as HTMLElement).dataset;
            return {
              value: JSON.parse(d.value ?? "null") as unknown,
              ...(d.before === undefined ? {} : { before: JSON.parse(d.before) as unknown }),
              changed: td.classList.contains("changed"),
            };
          }),
        })),
      )),
    );
    if (await page.locator("#more-changes").isDisabled()) break;
    await page.click("#more-changes");
    await waitStatus(
      page,
      "row-changes-status",
      new RegExp(`changes ${(out.length + 1).toLocaleString("en-US")}–`),
    );
  }
  return out;
}

/** Puts the generator's chain root under checkpoints/laminar/ in the local SOURCE bucket (one `wrangler r2 bulk put`). */
async function seedCheckpointRoot(persist: string): Promise<void> {
  const bundle = parseBundle(readFileSync(join(root, "test/fixtures/laminardb-state-v2.json"), "utf8"));
  const dir = mkdtempSync(join(tmp, "checkpoint-root-"));
  const list = Object.entries(bundle.bases.chain ?? {}).map(([key, segments], i) => {
    writeFileSync(join(dir, String(i)), fixtureBytes(segments));
    return { key: `checkpoints/laminar/${key}`, file: join(dir, String(i)) };
  });
  writeFileSync(join(dir, "list.json"), JSON.stringify(list));
  const r = spawnSync(
    process.execPath,
    [
      join(root, "node_modules/wrangler/bin/wrangler.js"),
      ...["r2", "bulk", "put", "tidemark-source", "--local", "--persist-to", persist],
      ...["--filename", join(dir, "list.json")],
    ],
    { cwd: root, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" } },
  );
  assert.equal(r.status, 0, `wrangler r2 bulk put: ${r.stderr}`);
}

/** The two neighbouring versions the table tests read: with the compactAt 4 of npm start, v5 compacted level 0 into level 1 keeping tombstones; v6 flushed on top. */
const [BEFORE, AFTER] = [5, 6];

describe.skipIf(!run)("browser inspector", () => {
  it("shows HEAD advancing as the demo writer commits; screenshot", async () => {
    assert.ok(haveChromium, `CI=true and no Chromium at ${CHROMIUM}`);
    assert.ok(server);
    const { page, errors } = await newPage();
    // The authorised URL npm start prints: reads are private, the token rides in the fragment.
    await page.goto(server.inspectorUrl);
    await waitHead(page, 1);
    const first = await headOf(page);
    await waitHead(page, first + 1);
    // A few more commits: the demo writer compacts level 0 into level 1 now and then.
    await waitHead(page, 6);
    // The page follows HEAD: the selected snapshot is the HEAD shown (read in one go: the
    // demo keeps committing between two reads of the page).
    const shown = await page.evaluate(() => ({
      selected: document.querySelector("#sel-version")?.textContent,
      head: document.querySelector("#head")?.getAttribute("data-version"),
    }));
    assert.equal(shown.selected, `v${shown.head}`, "the page follows HEAD");
    assert.ok((await page.locator("#files tr").count()) >= 2);
    assert.ok((await page.locator("#timeline circle").count()) >= 2);
    assert.ok((await page.locator("#levels rect").count()) >= 1);
    assert.match((await page.locator("#rows-count").textContent()) ?? "", /^\d[\d,]*$/);
    // Verify runs verifyMirror in the browser over HttpStore (HEAD per file).
    await page.click("#verify");
    await page.waitForFunction(() =>
      /ok|missing|wrong/.test(document.querySelector("#verify-result")?.textContent ?? ""),
    );
    assert.match((await page.locator("#verify-result").textContent()) ?? "", /ok, every file present/);
    // Source HEAD and lag come from the worker's status API.
    assert.match((await page.locator("#lag").textContent()) ?? "", /\d+\.\d s/);
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, "inspector.png"), fullPage: true });
    assert.deepEqual(errors, [], "no page errors");
    await page.close();
  }, 120_000);

  it.skipIf(!python && !ci)(
    "the table view shows DuckDB's rows of the demo at two versions, a deleted key absent, a composite text key found; the row-level history between them is their difference: inserts, updates with the changed cells marked, deletes",
    async () => {
      assert.ok(python, "pyarrow and duckdb are needed (CI=true)");
      assert.ok(server);
      const { page, errors } = await newPage();
      const seen = rangeRequests(page);
      await page.goto(server.inspectorUrl);
      // Past AFTER: selecting AFTER then stops following HEAD.
      await waitHead(page, AFTER + 1);
      const oracle = await oracleRows([BEFORE, AFTER]);

      // The row-level history from BEFORE to AFTER: the difference of DuckDB's rows at both.
      await page.selectOption("#from", String(BEFORE));
      await page.selectOption("#to", String(AFTER));
      await waitStatus(page, "row-changes-status", new RegExp(`^v${BEFORE} → v${AFTER}: changes 1–`));
      mkdirSync(out, { recursive: true });
      await page.locator("#history").screenshot({ path: join(out, "inspector-row-history.png") });
      const shown = await readAllChanges(page, BEFORE, AFTER);
      const byKey = (v: number) => new Map((oracle.rows.get(v) ?? []).map((r) => [JSON.stringify(r[0]), r]));
      const [a, b] = [byKey(BEFORE), byKey(AFTER)];
      const expected = new Map<string, unknown>();
      for (const [k, row] of b) {
        const was = a.get(k);
        if (!was) expected.set(k, { op: "insert", cells: row.map((value) => ({ value, changed: false })) });
        else if (JSON.stringify(was) !== JSON.stringify(row)) {
          expected.set(k, {
            op: "update",
            cells: row.map((value, i) =>
              JSON.stringify(value) === JSON.stringify(was[i])
                ? { value, changed: false }
                : { value, before: was[i], changed: true },
            ),
          });
        }
      }
      for (const [k, row] of a) {
        if (!b.has(k))
          expected.set(k, { op: "delete", cells: row.map((value) => ({ value, changed: false })) });
      }
      const got = new Map(shown.map((c) => [JSON.stringify(c.cells[0]?.value), c]));
      assert.equal(got.size, shown.length, "each key once");
      assert.deepEqual(got, expected);
      // In key order: the keys shown come as they do in DuckDB's rows (ordered by the internal key).
      const keys = shown.map((c) => JSON.stringify(c.cells[0]?.value));
      assert.deepEqual(
        keys.filter((k) => b.has(k)),
        [...b.keys()].filter((k) => expected.has(k)),
      );
      assert.deepEqual(
        keys.filter((k) => !b.has(k)),
        [...a.keys()].filter((k) => expected.has(k) && !b.has(k)),
      );
      const ops = shown.map((c) => c.op);
      for (const op of ["insert", "update", "delete"]) assert.ok(ops.includes(op), `an ${op} is shown`);
      console.log(
        `v${BEFORE} → v${AFTER}: ${["insert", "update", "delete"].map((op) => `${ops.filter((o) => o === op).length} ${op}`).join(", ")}`,
      );

      // The rows at both versions, page after page. The history stays on its pair (no reads of its
      // own now), and the table view stops following HEAD first: no other read runs while pages count.
      await page.selectOption("#snapshot", String(AFTER));
      await waitStatus(page, "rows-status", new RegExp(`of v${AFTER} in key order:`));
      for (const v of [BEFORE, AFTER]) {
        const { rows, pages } = await readAllRows(page, v, seen);
        assert.deepEqual(rows, oracle.rows.get(v), `v${v}: the rows DuckDB gives`);
        assert.ok(rows.length > 100, `v${v}: ${rows.length} rows over ${pages.length} pages`);
        for (const [i, p] of pages.entries()) {
          assert.equal(p.requests, p.seen, `v${v} page ${i + 1}: the requests it says are the browser's`);
        }
      }
      // A key live at BEFORE and deleted by AFTER: the search says so, and no row shows it.
      const deleted = [...a.keys()].filter((k) => !b.has(k)).map((k) => JSON.parse(k) as number);
      assert.ok(deleted.length > 0, "the flush deleted keys");
      const gone = String(deleted[0]);
      await page.locator("#key").fill(gone);
      await page.locator("#key").press("Enter");
      await waitStatus(page, "rows-status", new RegExp(`Key ${gone} is not in v${AFTER}`));
      assert.equal(await page.locator("#rows-status").getAttribute("data-found"), "false");
      const ids = await page.evaluate(() =>
        [...document.querySelectorAll("#table-rows tbody tr td:first-child")].map((td) =>
          JSON.parse((td as HTMLElement).dataset.value ?? "null"),
        ),
      );
      assert.ok(!ids.includes(deleted[0]), `${gone} is not shown`);
      assert.ok((ids[0] as number) > (deleted[0] as number), "the rows from the deleted key on");
      await page.selectOption("#snapshot", String(BEFORE));
      await waitStatus(page, "rows-status", new RegExp(`Key ${gone} is in v${BEFORE}`));
      assert.equal(await page.locator("#table-rows tbody tr.found td").first().textContent(), gone);
      await page.locator("#table-view").screenshot({ path: join(out, "inspector-table.png") });

      // The inventory table's composite text key: a key of its rows, searched as JSON, is found.
      await page.selectOption("#table", "inventory");
      await waitStatus(page, "rows-status", /^Rows 1–\d+ of v\d+ in key order:/);
      const row = await page.evaluate(() =>
        [...document.querySelectorAll("#table-rows tbody tr:nth-child(3) td")].map((td) =>
          JSON.parse((td as HTMLElement).dataset.value ?? "null"),
        ),
      );
      const key = JSON.stringify(row.slice(0, 2));
      await page.locator("#key").fill(key);
      await page.locator("#key").press("Enter");
      await waitStatus(page, "rows-status", / is in v\d+\.$/);
      assert.deepEqual(
        await page.evaluate(() =>
          [...document.querySelectorAll("#table-rows tbody tr.found td")].map((td) =>
            JSON.parse((td as HTMLElement).dataset.value ?? "null"),
          ),
        ),
        row,
      );
      assert.deepEqual(errors, [], "no page errors");
      await page.close();
    },
    120_000,
  );

  it.skipIf(!python && !ci)(
    "a file preview shows the rows pyarrow and duckdb read from the same file, in at most 3 requests",
    async () => {
      assert.ok(python, "pyarrow and duckdb are needed (CI=true)");
      assert.ok(server);
      const { page, errors } = await newPage();
      const fileRequests: Array<{ url: string; method: string; range: string | undefined; auth: boolean }> =
        [];
      // Data-file requests in flight and when the last one ended: the table view's reads of the same
      // file must be over before the preview's are counted (else a late one counts as the preview's).
      let inFlight = 0;
      let lastEnded = Date.now();
      const ended = (r: { url(): string }) => {
        if (!r.url().includes("/data/")) return;
        inFlight--;
        lastEnded = Date.now();
      };
      page.on("request", (r) => {
        if (!r.url().includes("/data/")) return;
        inFlight++;
        fileRequests.push({
          url: r.url(),
          method: r.method(),
          range: r.headers().range,
          auth: r.headers().authorization !== undefined,
        });
      });
      page.on("requestfinished", ended);
      page.on("requestfailed", ended);
      // The authorised URL npm start prints: reads are private, the token rides in the fragment.
      await page.goto(server.inspectorUrl);
      await waitHead(page, 2);
      // Freeze on one snapshot, so the file stays selected while the demo commits on; the table view
      // and the row-level history read their rows first (the history of one snapshot reads nothing),
      // so the requests counted below are the preview's.
      const version = await headOf(page);
      await page.selectOption("#snapshot", String(version));
      await page.selectOption("#from", String(version));
      await page.selectOption("#to", String(version));
      await waitStatus(page, "rows-status", new RegExp(`of v${version} in key order:`));
      await waitStatus(page, "row-changes-status", new RegExp(`^v${version}: the same snapshot`));
      const paths = await page
        .locator("#files button")
        .evaluateAll((bs) => bs.map((b) => b.getAttribute("data-path")));
      const path = paths.find((p) => p?.includes("/L0/")) ?? paths[0];
      assert.ok(path);
      // No data-file read in flight, none for 500 ms.
      for (let i = 0; i < 200 && (inFlight > 0 || Date.now() - lastEnded < 500); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(inFlight, 0, "the table view's reads ended");
      fileRequests.length = 0;
      assert.equal(
        await previewByKeyboard(page, path),
        "ok",
        (await page.locator("#preview-status").textContent()) ?? "",
      );

      // The requests: Range GETs of the file only, at most 3 (the size is the manifest's: no HEAD),
      // on a signed URL (no credential header: any Parquet reader could use it).
      const mine = fileRequests.filter((r) => new URL(r.url).pathname.endsWith(path));
      assert.ok(
        mine.every((r) => !r.auth && new URL(r.url).search !== ""),
        `signed, without a header: ${JSON.stringify(mine)}`,
      );
      assert.ok(mine.length >= 1 && mine.length <= 3, `requests: ${JSON.stringify(mine)}`);
      assert.ok(
        mine.every((r) => r.method === "GET" && /^bytes=\d+-\d+$/.test(r.range ?? "")),
        JSON.stringify(mine),
      );
      assert.equal(await page.locator("#preview-status").getAttribute("data-requests"), String(mine.length));
      console.log(
        `preview of ${path} (${bytesOf(mine)}): ${mine.length} request(s): ${mine.map((r) => r.range).join(", ")}`,
      );

      // Internal columns are hidden until asked for; then every column shows.
      let shown = await shownRows(page);
      const hidden = shown.columns.filter((_, i) => !shown.visible[i]);
      assert.deepEqual(hidden, ["_merutable_ikey", "_merutable_seq", "_merutable_op", "_merutable_value"]);
      await page.locator("#internal").check();
      shown = await shownRows(page);
      assert.ok(shown.visible.every(Boolean));

      // An independent reader of the same bytes.
      const bytes = new Uint8Array(
        await (await fetch(`${server.url}/objects/demo/${path}`, { headers: authOf(server) })).arrayBuffer(),
      );
      const local = join(tmp, "preview.parquet");
      writeFileSync(local, bytes);
      const peer = readParquetPeer(python, local, 100);
      assert.ok(peer.duckdbAgrees, "duckdb reads what pyarrow reads");
      assert.deepEqual(
        shown.columns,
        peer.columns.map((c) => c.name),
      );
      assert.equal(shown.rows.length, Math.min(100, peer.numRows));
      assert.deepEqual(
        shown.rows.map((r) => r.map((c) => c.value)),
        peer.rows,
        "the rows shown are the rows pyarrow reads",
      );
      // Shown readably: the key decoded (id, seq, op), text as text, NULL marked.
      const col = (n: string) => shown.columns.indexOf(n);
      shown.rows.forEach((r, i) => {
        const p = peer.rows[i]!;
        const seq = (p[col("_merutable_seq")] as { i: string }).i;
        const op = (p[col("_merutable_op")] as { i: string }).i === "1" ? "put" : "delete";
        assert.match(r[col("_merutable_ikey")]?.text ?? "", new RegExp(`^id=-?\\d+ · seq ${seq} · ${op}$`));
        // Text annotated as a string: pyarrow reads it as text.
        const customer = p[col("customer")] as PeerValue;
        assert.equal(r[col("customer")]?.text, customer === null ? "NULL" : (customer as { s: string }).s);
      });
      const summary = (await page.locator("#preview-summary").textContent()) ?? "";
      assert.match(summary, /row groups1/);
      assert.match(summary, /compressionSNAPPY/);
      assert.match((await page.locator("#meru-schema").textContent()) ?? "", /idInt64noPK 1/);
      mkdirSync(out, { recursive: true });
      await page.locator("#preview").screenshot({ path: join(out, "inspector-preview.png") });
      assert.deepEqual(errors, [], "no page errors");
      await page.close();
    },
    120_000,
  );

  it("history: two snapshots show the files added and removed and the row-count change", async () => {
    assert.ok(server);
    const { page, errors } = await newPage();
    // The authorised URL npm start prints: reads are private, the token rides in the fragment.
    await page.goto(server.inspectorUrl);
    await waitHead(page, 6);
    const head = await headOf(page);
    // Far enough apart to span a compaction (the demo writer compacts at 8 level-0 files).
    const from = Math.max(1, head - 5);
    await page.selectOption("#from", String(from));
    await page.selectOption("#to", String(head));
    const reader = openMirror(new HttpStore(`${server.url}/objects/demo/`, { headers: authOf(server) }));
    const [a, b] = await Promise.all([reader.manifest(from), reader.manifest(head)]);
    const d = diffManifests(a, b);
    const rows = (m: typeof a) => liveDataFiles(m).reduce((s, f) => s + Number(f.numRows), 0);
    const shown = await page.evaluate(() => ({
      added: [...document.querySelectorAll("#added td.path")].map((td) => td.textContent),
      removed: [...document.querySelectorAll("#removed td.path")].map((td) => td.textContent),
      rows: Number(document.querySelector("#history-summary")?.getAttribute("data-rows")),
      text: document.querySelector("#history-summary")?.textContent ?? "",
    }));
    assert.deepEqual(shown.added, d.added);
    assert.deepEqual(shown.removed, d.removed);
    assert.equal(shown.rows, rows(b) - rows(a));
    assert.match(
      shown.text,
      new RegExp(`v${from} → v${head}: ${d.added.length} files added, ${d.removed.length} removed`),
    );
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("the checkpoint view shows a mirrored root's attempts: state, seal, sizes and lineage, on either side", async () => {
    assert.ok(server);
    const s = server;
    const api = (path: string) => fetch(`${s.url}${path}`, { headers: authOf(s) });
    const { page, errors } = await newPage();
    await page.goto(server.inspectorUrl);
    await page.waitForSelector("#checkpoints:not([hidden])", { timeout: 30_000 });
    // The page's status read started the root's loop: wait for it to catch up, then refresh the view.
    for (let i = 0; i < 300; i++) {
      const st = (await (await api("/api/checkpoints/laminar/status")).json()) as { caughtUp: boolean };
      if (st.caughtUp) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const shown = async (side: string) => {
      await page.selectOption("#checkpoint-side", side);
      await page.click("#checkpoint-refresh");
      await page.waitForFunction(
        (sd) =>
          document.querySelectorAll("#checkpoint-attempts tr").length === 3 &&
          (document.getElementById("checkpoint-status")?.textContent ?? "").includes(
            sd === "source" ? "SOURCE/" : "MIRROR/",
          ),
        side,
        { timeout: 30_000 },
      );
      return page.evaluate(() =>
        [...document.querySelectorAll("#checkpoint-attempts tr")].map((tr) =>
          [...tr.querySelectorAll("td")].map((td) => td.textContent),
        ),
      );
    };
    const report = (await (await api("/api/checkpoints/laminar/attempts")).json()) as {
      attempts: Array<{ epoch: string; bytes: number }>;
    };
    const size = (e: string) => fmtBytes(report.attempts.find((a) => a.epoch === e)?.bytes ?? -1);
    const rows = await shown("target");
    // Newest first: attempt, state, seal, partials, descriptors, size, lineage, restorable, problems.
    assert.deepEqual(rows, [
      ["3", "sealed", "local, 3 vnode(s), assignment 0", "3", "2", size("3"), "3 ← 2 ← 1", "yes", "0"],
      ["2", "sealed", "local, 3 vnode(s), assignment 0", "3", "0", size("2"), "2 ← 1", "yes", "0"],
      ["1", "sealed", "local, 3 vnode(s), assignment 0", "3", "0", size("1"), "1", "yes", "0"],
    ]);
    assert.match(
      (await page.locator("#checkpoint-status").textContent()) ?? "",
      /^MIRROR\/checkpoints\/laminar: intact · source newest 3 · target newest sealed 3 · candidate 3 restorable/,
    );
    assert.deepEqual(
      (await shown("source")).map((r) => r.slice(0, 2)),
      [
        ["3", "sealed"],
        ["2", "sealed"],
        ["1", "sealed"],
      ],
    );
    await page.screenshot({ path: join(out, "inspector-checkpoints.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("the lag chart draws the last hour from the durable object's status", async () => {
    assert.ok(server);
    const { page, errors } = await newPage();
    // The authorised URL npm start prints: reads are private, the token rides in the fragment.
    await page.goto(server.inspectorUrl);
    await page.waitForFunction(() => document.querySelectorAll("#lag-chart circle").length >= 1, null, {
      timeout: 45_000,
    });
    const status = (await (
      await fetch(`${server.url}/api/tables/demo/status`, { headers: authOf(server) })
    ).json()) as {
      mirror: { lagHistory: Array<{ atMs: number; lagSeconds: number | null }> };
    };
    const samples = status.mirror.lagHistory.filter((s) => s.lagSeconds !== null);
    assert.ok(samples.length >= 1);
    const label = (await page.locator("#lag-chart svg").getAttribute("aria-label")) ?? "";
    assert.match(label, /lag over the last hour, at most \d+\.\d s/);
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("a public bucket url typed in the store field: previews, names 401, 404, non-parquet and corrupt files; a page of rows costs the requests the bucket counts, a footer once", async () => {
    assert.ok(server);
    // A mirror in a "public bucket" on another origin, with a few bad files. Files of 3,000 rows
    // (about 180 KiB): a footer and a row group are two requests.
    const store = new MemoryStore();
    await demoCommit(store, { files: 2, rows: 3000 });
    await store.put("data/notes.txt", "not rows\n".repeat(40));
    await store.put("data/corrupt.parquet", `PAR1${"\u0000".repeat(400)}PAR1`);
    await store.put("data/private.parquet", `PAR1${"x".repeat(100)}PAR1`);
    const size = async (k: string) => (await store.head(k)).size;
    const catalog = await Catalog.open(store);
    await catalog.commit({
      add: [
        { path: "data/notes.txt", fileSize: await size("data/notes.txt"), numRows: 40 },
        { path: "data/corrupt.parquet", fileSize: await size("data/corrupt.parquet"), numRows: 1 },
        { path: "data/private.parquet", fileSize: await size("data/private.parquet"), numRows: 1 },
        { path: "data/gone.parquet", fileSize: 1234, numRows: 1 },
      ],
    });
    bucket = await serveBucket(store, { statusOf: (k) => (k === "data/private.parquet" ? 401 : undefined) });

    const { page, errors } = await newPage();
    await page.goto(`${server.url}/`);
    await page.locator("#url").fill(bucket.url);
    await page.locator("#url").press("Enter");
    await waitHead(page, 2);
    assert.equal(await page.locator("#source").textContent(), bucket.url.replace(/\/$/, ""));
    const good = await page
      .locator("#files button")
      .evaluateAll((bs) => bs.map((b) => b.getAttribute("data-path")).find((p) => p?.includes("/L0/")));
    assert.ok(good);
    assert.equal(await previewByKeyboard(page, good), "ok");
    assert.equal((await shownRows(page)).rows.length, 100);
    for (const [path, kind, text] of [
      [
        "data/private.parquet",
        "unauthorised",
        /Not authorised to read data\/private\.parquet \(HTTP 401\/403\)/,
      ],
      ["data/gone.parquet", "not-found", /not on the mirror \(HTTP 404\)/],
      ["data/notes.txt", "not-parquet", /not a Parquet file/],
      ["data/corrupt.parquet", "corrupt", /Corrupt file: .*cannot decode data\/corrupt\.parquet/],
    ] as const) {
      assert.equal(await previewByKeyboard(page, path), kind, path);
      assert.match((await page.locator("#preview-status").textContent()) ?? "", text);
      assert.equal(await page.locator("#rows tbody tr").count(), 0, `${path}: no stale rows`);
    }
    // v2 holds the bad files: its rows and its history name what cannot be read.
    for (const id of ["rows-status", "row-changes-status"]) {
      await page.waitForFunction((sel) => document.getElementById(sel)?.dataset.kind === "error", id);
      assert.match(
        (await page.locator(`#${id}`).textContent()) ?? "",
        /data\/(notes\.txt|corrupt\.parquet|private\.parquet|gone\.parquet)/,
      );
    }
    // v1's rows: what each page says it cost is what the bucket served; a footer is read once.
    const served = () =>
      [...bucket!.requests].filter(([k]) => k.includes("/L0/")).reduce((n, [, c]) => n + c, 0);
    let before = served();
    await page.selectOption("#snapshot", "1");
    await waitStatus(page, "rows-status", /^Rows 1–100 of v1 /);
    const first = await pageCost(page, "rows-status");
    assert.deepEqual(
      { ...first, served: served() - before },
      { requests: 4, footers: 2, rowGroups: 2, served: 4 },
      "two footers, then the one row group of each file",
    );
    before = served();
    await page.click("#next-rows");
    await waitStatus(page, "rows-status", /^Rows 101–200 of v1 /);
    const next = await pageCost(page, "rows-status");
    assert.deepEqual(
      { ...next, served: served() - before },
      { requests: 0, footers: 0, rowGroups: 0, served: 0 },
      "the next page goes on from the row groups the first read: no request",
    );
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("retention: the page shows the oldest version retained, the versions kept and the bytes retained and freed; a link to an expired version names the oldest retained", async () => {
    assert.ok(server);
    const admin = {
      Authorization: `Bearer ${devVar("ADMIN_TOKEN") ?? ""}`,
      "Content-Type": "application/json",
    };
    const table = "kept";
    const put = await fetch(`${server.url}/api/tables/${table}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({
        source: `r2://SOURCE/kept-src/${table}`,
        target: `r2://MIRROR/kept-dst/${table}`,
        retention: { keepVersions: 2, graceMs: 0 },
      }),
    });
    assert.equal(put.status, 200, await put.text());
    for (let i = 0; i < 4; i++) {
      const c: Response = await fetch(`${server.url}/api/tables/${table}/commit`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ files: 1, rows: 20 }),
      });
      assert.equal(c.status, 200, await c.text());
    }
    type Retention = {
      oldestRetained: number;
      versionsKept: number;
      bytesRetained: number;
      totals: { bytesFreed: number };
    };
    let retention: Retention | undefined;
    for (let i = 0; i < 300 && retention?.oldestRetained !== 3; i++) {
      const st = (await (
        await fetch(`${server.url}/api/tables/${table}/status`, { headers: authOf(server) })
      ).json()) as { mirror?: { retention?: Retention } };
      retention = st.mirror?.retention;
      if (retention?.oldestRetained !== 3) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(retention?.oldestRetained, 3, JSON.stringify(retention));
    const { page, errors } = await newPage();
    const token = `#token=${encodeURIComponent(server.readToken)}`;
    await page.goto(`${server.url}/?table=${table}&version=1${token}`);
    await page.waitForFunction(() => document.querySelector("#versions-kept")?.textContent === "2", null, {
      timeout: 30_000,
    });
    const shown = await page.evaluate(() => ({
      oldest: document.querySelector("#oldest-retained")?.getAttribute("data-version"),
      retained: document.querySelector("#bytes-retained")?.textContent,
      freed: document.querySelector("#bytes-freed")?.textContent,
      error: document.querySelector("#error")?.textContent ?? "",
      head: document.querySelector("#head")?.textContent,
      listed: [...document.querySelectorAll("#snapshot option")].map((o) => o.textContent),
    }));
    const fmt = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
    assert.deepEqual(shown, {
      oldest: "3",
      retained: fmt(retention.bytesRetained),
      freed: fmt(retention.totals.bytesFreed),
      error: shown.error,
      head: "4",
      listed: ["v4", "v3"],
    });
    assert.match(shown.error, /snapshot v1 of .* has expired: the oldest version retained is v3/);
    // A retained version from the address is selected, with no error.
    await page.goto(`${server.url}/?table=${table}&version=3${token}`);
    await page.waitForFunction(() => document.querySelector("#sel-version")?.textContent === "v3", null, {
      timeout: 30_000,
    });
    assert.equal(await page.locator("#error").textContent(), "");
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("the drill: asked for over the admin API, the page shows its result, its version and the files it read", async () => {
    assert.ok(server);
    const admin = {
      Authorization: `Bearer ${devVar("ADMIN_TOKEN") ?? ""}`,
      "Content-Type": "application/json",
    };
    const table = "drilled";
    const put = await fetch(`${server.url}/api/tables/${table}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({
        source: `r2://SOURCE/drill-src/${table}`,
        target: `r2://MIRROR/drill-dst/${table}`,
      }),
    });
    assert.equal(put.status, 200, await put.text());
    for (let i = 0; i < 2; i++) {
      const c: Response = await fetch(`${server.url}/api/tables/${table}/commit`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ files: 2, rows: 20 }),
      });
      assert.equal(c.status, 200, await c.text());
    }
    const asked = await fetch(`${server.url}/api/tables/${table}/drill`, { method: "POST", headers: admin });
    assert.equal(asked.status, 200, await asked.text());
    type Last = { result: string; version: number; files: number };
    let last: Last | null | undefined;
    for (let i = 0; i < 300 && !last; i++) {
      const st = (await (
        await fetch(`${server.url}/api/tables/${table}/status`, { headers: authOf(server) })
      ).json()) as { mirror?: { drill?: { last: Last | null } } };
      last = st.mirror?.drill?.last;
      if (!last) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(last?.result, "ok", JSON.stringify(last));
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/?table=${table}#token=${encodeURIComponent(server.readToken)}`);
    await page.waitForFunction(
      () => document.querySelector("#drill-result")?.getAttribute("data-result") === "ok",
      null,
      {
        timeout: 30_000,
      },
    );
    const box = page.locator("#drill-result");
    assert.equal(await box.textContent(), `ok · v${last?.version}`);
    assert.match(
      (await box.getAttribute("title")) ?? "",
      new RegExp(`UTC: ${last?.files} files read and hashed`),
    );
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("at 375 px: no horizontal scrolling, keyboard reaches the controls, no layout shift while loading", async () => {
    assert.ok(server);
    const { page, errors } = await newPage({ width: 375, height: 812 });
    // The authorised URL npm start prints: reads are private, the token rides in the fragment.
    await page.goto(server.inspectorUrl);
    await waitHead(page, 2);
    await page.locator("#timeline circle").first().waitFor();
    // A preview loaded without user input (a script click): its shifts count.
    await page.evaluate(() => (document.querySelector("#files button") as HTMLButtonElement).click());
    await page.waitForFunction(
      () => (document.querySelector("#preview-status") as HTMLElement).dataset.kind === "ok",
      null,
      { timeout: 30_000 },
    );
    await page.waitForTimeout(500);
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      cls: (window as unknown as { __cls: number }).__cls,
    }));
    assert.ok(layout.scrollWidth <= 375, `page is ${layout.scrollWidth} px wide`);
    assert.ok(
      layout.cls < 0.01,
      `cumulative layout shift ${layout.cls.toFixed(4)} (good is < 0.1; this page: < 0.01)`,
    );
    console.log(
      `375 px: page ${layout.scrollWidth} px wide, cumulative layout shift ${layout.cls.toFixed(4)}`,
    );
    // Keyboard: Tab from the start reaches the table picker, the URL field, a file, the snapshot dots.
    await page.locator("body").focus();
    const reached = new Set<string>();
    for (let i = 0; i < 150; i++) {
      await page.keyboard.press("Tab");
      reached.add(
        await page.evaluate(() => {
          const a = document.activeElement as HTMLElement | null;
          if (a?.dataset.path) return "file";
          if (a?.getAttribute("role") === "button") return "snapshot dot";
          return a?.id || a?.tagName.toLowerCase() || "";
        }),
      );
    }
    for (const want of [
      "table",
      "url",
      "open",
      "snapshot dot",
      "snapshot",
      "verify",
      "file",
      "key",
      "find",
      "internal",
      "from",
      "to",
    ]) {
      assert.ok(reached.has(want), `Tab reaches ${want}: ${[...reached].join(", ")}`);
    }
    // A snapshot dot by keyboard: Enter selects it.
    const dot = page.locator("#timeline circle").first();
    await dot.focus();
    await page.keyboard.press("Enter");
    assert.equal(await page.locator("#timeline circle").first().getAttribute("aria-pressed"), "true");
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, "inspector-375.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);

  it("a table with an Iceberg view: the panel shows its current snapshot and a DuckDB query of its metadata location", async () => {
    assert.ok(server);
    const s = server;
    // The admin token npm start put in .dev.vars (the demo writer's).
    const adminToken = /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(join(root, ".dev.vars"), "utf8"))?.[1]?.trim();
    const admin = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
    const table = "ice-panel";
    const location = `${s.url}/objects/${table}`;
    const put = await fetch(`${s.url}/api/tables/${table}`, {
      method: "PUT",
      headers: admin,
      body: JSON.stringify({
        source: `r2://SOURCE/primary/${table}`,
        target: `r2://MIRROR/copies/${table}`,
        iceberg: location,
      }),
    });
    assert.equal(put.status, 200, await put.text());
    const commit = await fetch(`${s.url}/api/tables/${table}/commit`, {
      method: "POST",
      headers: admin,
      body: "{}",
    });
    assert.equal(commit.status, 200, await commit.text());
    const metadata = `${location}/iceberg/metadata/v1.metadata.json`;

    const { page, errors } = await newPage({ width: 375, height: 812 });
    await page.goto(`${s.url}/?table=${table}#token=${s.readToken}`);
    const shown = page.locator("#view-panel code[data-metadata-location]");
    await shown.waitFor({ timeout: 45_000 });
    assert.equal(await shown.textContent(), metadata);
    assert.equal(await page.locator('#view-panel [data-view="snapshot"]').textContent(), "1");
    assert.equal(await page.locator('#view-panel [data-view="lag"]').textContent(), "0");
    const duck = (await page.locator('#view-panel pre[data-engine="DuckDB"]').textContent()) ?? "";
    assert.ok(duck.includes(`iceberg_scan('${metadata}')`), duck);
    assert.ok(!duck.includes(s.readToken), "the read token is not in a snippet");
    // The location the panel gives is where readers find the metadata file, through the object route.
    const md = (await (await fetch(metadata, { headers: authOf(s) })).json()) as {
      "current-snapshot-id": number;
    };
    assert.equal(md["current-snapshot-id"], 1);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `page is ${width} px wide with the panel`);
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, "inspector-iceberg-view.png"), fullPage: true });
    // A table without a view has no panel.
    await page.selectOption("#table", "demo");
    await page.locator("#view-panel").waitFor({ state: "detached", timeout: 15_000 });
    assert.deepEqual(errors, []);
    await page.close();
  }, 120_000);
});
