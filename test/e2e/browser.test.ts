/**
 * The inspector in a real browser: Debian's Chromium driven by playwright-core
 * loads the page from `wrangler dev` (started as `npm start` does, with a
 * fast demo writer), sees the table's HEAD advance as snapshots are committed
 * and mirrored, verifies a snapshot, and saves a screenshot to
 * test-output/inspector.png. Without Chromium the test is skipped loudly,
 * except under CI=true, where it fails.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type DevServer, startDev } from "../../scripts/start.ts";

const root = join(import.meta.dirname, "../..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
const ci = process.env.CI === "true";

if (!haveChromium && !ci) {
  console.warn(
    `\n!!!!!! ${CHROMIUM} not found (apt-get install chromium): the browser test is SKIPPED !!!!!!\n`,
  );
}

let server: DevServer | undefined;
let browser: BrowserContext | undefined;
const profile = mkdtempSync(join(tmpdir(), "tidemark-chromium-"));

beforeAll(async () => {
  if (!haveChromium) return;
  server = await startDev({ port: 0, intervalMs: 1000, log: () => {} });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(profile, { recursive: true, force: true });
});

describe("browser inspector", () => {
  it.skipIf(!haveChromium && !ci)(
    "shows HEAD advancing as the demo writer commits; screenshot",
    async () => {
      assert.ok(haveChromium, `CI=true and no Chromium at ${CHROMIUM}`);
      assert.ok(server);
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
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      // The authorised URL npm start prints: reads are private, the token rides in the fragment.
      await page.goto(server.inspectorUrl);

      const headOf = async () => Number((await page.locator("#head").getAttribute("data-version")) ?? "0");
      await page.waitForFunction(
        () => Number(document.querySelector("#head")?.getAttribute("data-version") ?? 0) >= 1,
        null,
        {
          timeout: 30_000,
        },
      );
      const first = await headOf();
      await page.waitForFunction(
        (v) => Number(document.querySelector("#head")?.getAttribute("data-version") ?? 0) > v,
        first,
        { timeout: 30_000 },
      );
      const later = await headOf();
      assert.ok(later > first, `HEAD advanced ${first} → ${later}`);
      // A few more commits: the demo writer compacts level 0 into level 1 every 4th one.
      await page.waitForFunction(
        () => Number(document.querySelector("#head")?.getAttribute("data-version") ?? 0) >= 6,
        null,
        {
          timeout: 30_000,
        },
      );
      // The page follows HEAD: the selected snapshot is the HEAD shown (read in one go: the
      // demo keeps committing between two reads of the page).
      const shown = await page.evaluate(() => ({
        selected: document.querySelector("#sel-version")?.textContent,
        head: document.querySelector("#head")?.getAttribute("data-version"),
      }));
      assert.equal(shown.selected, `v${shown.head}`, "the page follows HEAD");

      // The page shows the snapshot's files, the chain and the per-level chart.
      assert.ok((await page.locator("#files tr").count()) >= 2);
      assert.ok((await page.locator("#timeline circle").count()) >= 2);
      assert.ok((await page.locator("#levels rect").count()) >= 1);
      // Verify runs verifyMirror in the browser over HttpStore (HEAD per file).
      await page.click("#verify");
      await page.waitForFunction(() =>
        /ok|missing|wrong/.test(document.querySelector("#verify-result")?.textContent ?? ""),
      );
      assert.match((await page.locator("#verify-result").textContent()) ?? "", /ok, every file present/);
      // Source HEAD and lag come from the worker's status API.
      assert.match((await page.locator("#lag").textContent()) ?? "", /\d+\.\d s/);

      mkdirSync(join(root, "test-output"), { recursive: true });
      await page.screenshot({ path: join(root, "test-output/inspector.png"), fullPage: true });
      assert.deepEqual(errors, [], "no page errors");
    },
    90_000,
  );
});
