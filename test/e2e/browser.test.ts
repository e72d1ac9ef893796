/**
 * The inspector in a real browser: Debian's Chromium driven by playwright-core
 * loads the page from `wrangler dev` (started as `npm start` does, with a
 * fast demo writer that commits real Parquet files). It checks that the page
 * follows HEAD; that a file preview shows the rows an independent reader
 * (pyarrow, and duckdb again) gets from the same file, within 3 HTTP
 * requests and no HEAD; the history of two snapshots; the lag chart; a
 * public bucket on another origin typed into the store field, with its
 * error states (401, 404, not Parquet, corrupt); the keyboard; a 375 px
 * wide screen without horizontal scrolling; no layout shift while loading.
 * Screenshots go to test-output/. Without Chromium or pyarrow the test is
 * skipped loudly, except under CI=true, where it fails.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type DevServer, startDev } from "../../scripts/start.ts";
import { demoCommit } from "../../src/demo/writer.ts";
import {
  Catalog,
  diffManifests,
  HttpStore,
  liveDataFiles,
  MemoryStore,
  openMirror,
} from "../../src/index.ts";
import { type BucketServer, serveBucket } from "../support/bucket-server.ts";
import { interopPython, type PeerValue, readParquetPeer } from "../support/parquet-peer.ts";

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
  server = await startDev({ port: 0, intervalMs: 1000, log: () => {} });
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
    "a file preview shows the rows pyarrow and duckdb read from the same file, in at most 3 requests",
    async () => {
      assert.ok(python, "pyarrow and duckdb are needed (CI=true)");
      assert.ok(server);
      const { page, errors } = await newPage();
      const fileRequests: Array<{ url: string; method: string; range: string | undefined; auth: boolean }> =
        [];
      page.on("request", (r) => {
        if (r.url().includes("/data/"))
          fileRequests.push({
            url: r.url(),
            method: r.method(),
            range: r.headers().range,
            auth: r.headers().authorization !== undefined,
          });
      });
      // The authorised URL npm start prints: reads are private, the token rides in the fragment.
      await page.goto(server.inspectorUrl);
      await waitHead(page, 2);
      // Freeze on one snapshot, so the file stays selected while the demo commits on.
      const version = await headOf(page);
      await page.selectOption("#snapshot", String(version));
      const paths = await page
        .locator("#files button")
        .evaluateAll((bs) => bs.map((b) => b.getAttribute("data-path")));
      const path = paths.find((p) => p?.includes("/L0/")) ?? paths[0];
      assert.ok(path);
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
        const customer = p[col("customer")] as PeerValue;
        assert.equal(
          r[col("customer")]?.text,
          customer === null ? "NULL" : Buffer.from((customer as { b: string }).b, "hex").toString("utf8"),
        );
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

  it("a public bucket url typed in the store field: previews, and names 401, 404, non-parquet and corrupt files", async () => {
    assert.ok(server);
    // A mirror in a "public bucket" on another origin, with a few bad files.
    const store = new MemoryStore();
    await demoCommit(store, { files: 2, rows: 50 });
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
    assert.equal((await shownRows(page)).rows.length, 50);
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
});
