/**
 * docs/conformance.md, generated from a test run: every `doctor` check × every
 * store tidemark is tested on. The tests that probe a store record their
 * report on the vitest task (test/support/conformance.ts); the JSON reporter
 * writes them to test-output/vitest.json; this script renders the page.
 *
 *   node scripts/conformance.ts [vitest.json]           writes docs/conformance.md
 *   node scripts/conformance.ts --check [vitest.json]   fails if the page differs from the run
 *
 * `--check` needs every column in the run; a column missing (its server was
 * not running) is a failure under CI=true and a warning otherwise.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkTitle, DOCTOR_CHECKS } from "../src/doctor/checks.ts";
import {
  CONFORMANCE_COLUMNS,
  type ConformanceColumn,
  type ConformanceRecord,
} from "../test/support/conformance.ts";

const root = join(import.meta.dirname, "..");
const page = join(root, "docs", "conformance.md");
const args = process.argv.slice(2);
const check = args.includes("--check");
const input = args.find((a) => !a.startsWith("--")) ?? join(root, "test-output", "vitest.json");

interface VitestJson {
  testResults: { assertionResults: { status: string; meta?: { conformance?: ConformanceRecord } }[] }[];
}

function records(file: string): Map<ConformanceColumn, ConformanceRecord> {
  const out = new Map<ConformanceColumn, ConformanceRecord>();
  const json = JSON.parse(readFileSync(file, "utf8")) as VitestJson;
  for (const f of json.testResults) {
    for (const a of f.assertionResults) {
      // Only what a passing test asserted: a failing one already fails the run.
      const r = a.meta?.conformance;
      if (r && a.status === "passed") out.set(r.column, r);
    }
  }
  return out;
}

/**
 * What each vendor does with S3's SHA-256 checksums, beside the measured rows: AWS and R2's S3
 * API cannot be run here, so their rows come from their documentation (linked); the others were
 * measured (the doctor rows above, and the probe of `S3Store`).
 */
const CHECKSUMS_BY_VENDOR = [
  "## Checksums by vendor",
  "",
  "Where a mirror's SHA-256 of each file and manifest also travels with the object (`PutOptions.sha256`;",
  "the mirror's own per-version record `_tidemark/checksums/v{N}.sha256` holds them on every store).",
  "AWS S3 and R2's S3 API are not run here: their rows are their documentation's.",
  "",
  "| store | digest before the body (`x-amz-checksum-sha256`) | trailing checksum (`aws-chunked`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`) | a server-side copy | what tidemark does |",
  "|---|---|---|---|---|",
  "| AWS S3 | recorded and checked (400 BadDigest) ([checking object integrity](https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html)) | recorded and checked ([trailing headers](https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html)) | computed by S3 with `x-amz-checksum-algorithm: SHA256` ([CopyObject](https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)) | the header for manifests, the trailer for files as they stream, the algorithm on copies (by its host name) |",
  "| Cloudflare R2, S3 API | SHA-256 listed among R2's checksums, as a composite type ([S3 API compatibility](https://developers.cloudflare.com/r2/api/s3/api/)) | not documented | not documented | probes once (a trailing checksum read back); without it, the per-version record only |",
  "| R2 Workers binding (`R2Store`) | recorded and checked (`put(..., { sha256 })`, error 10037; measured in workerd) | no (the binding takes a digest before the body only) | no copy | the digest for manifests and for files whose digest is known first (a restore from a mirror); the record for the rest |",
  "| Ceph RGW 16 | ignored: neither checked nor recorded (measured) | refused: 400 XAmzContentSHA256Mismatch (measured) | `x-amz-checksum-algorithm` ignored (measured) | neither (its probe fails); the per-version record only |",
  '| moto 5.2.1 | recorded with `x-amz-sdk-checksum-algorithm`, never checked (measured; its source says so: "TODO: AWS computes the provided value and verifies it\'s the same") | recorded, not checked (measured) | computed (measured) | the header, the trailer, the algorithm on copies (its probe passes) |',
  "",
];

const short = (vendor: string | undefined) => (vendor ? ` (${vendor.replace(/^HTTP /, "")})` : "");

function render(found: Map<ConformanceColumn, ConformanceRecord>): string {
  const columns = Object.keys(CONFORMANCE_COLUMNS) as ConformanceColumn[];
  const lines: string[] = [];
  lines.push("# Conformance matrix");
  lines.push("");
  lines.push(
    "What `doctor` finds on every store tidemark is tested on: one row per check, one column per store.",
    "**Generated from a test run, not written by hand**: the tests that probe a store",
    "(`test/node/doctor.test.ts`, `test/node/doctor-s3.test.ts`, `test/node/object-lock.test.ts`,",
    "`test/workers/doctor.test.ts`) record",
    "their reports, and `node scripts/conformance.ts` renders this page from `test-output/vitest.json`.",
    "`npm test` fails when the page differs from what the run measured.",
    "",
    "A cell is `ok`, **failed** or `unsupported`, with the vendor's HTTP answer behind the decisive",
    "refusal where the store gave one. Run the same probe on your store with `tidemark doctor <store-url>`",
    "(docs/cli.md), `doctor(store)` in code, or the worker's `POST /api/tables/:table/doctor`.",
    "",
    "The two Object Lock columns are buckets created with Object Lock (so versioned), probed with",
    "`doctor --lock compliance` and without `list-pagination` and `auth-failure` (the plain buckets'",
    "columns have those); every other column ran without `--lock`, so `object-lock` is unsupported there.",
    "",
    "The last three columns are deliberately imperfect servers, kept to show what a failure looks like:",
    "a moto that checks no signatures (the suites run there), a moto that checks every signature (and gets",
    "it wrong for a `/` in a query value and for percent-encoded keys: boto3 is refused the same way),",
    "and moto behind a proxy that drops `If-None-Match`, the bug that makes a store unsafe for tidemark.",
    "",
  );
  const head = columns.map((c) => CONFORMANCE_COLUMNS[c]);
  lines.push(`| check | ${head.join(" | ")} |`);
  lines.push(`|---|${columns.map(() => "---").join("|")}|`);
  const notes: string[] = [];
  for (const id of DOCTOR_CHECKS) {
    const cells = columns.map((col) => {
      const r = found.get(col)?.checks.find((c) => c.id === id);
      if (!r) return "not run";
      if (r.status !== "ok") notes.push(`- ${CONFORMANCE_COLUMNS[col]}, \`${id}\`: ${r.detail}`);
      const status = r.status === "failed" ? "**failed**" : r.status;
      return `${status}${short(r.vendor)}`;
    });
    lines.push(`| \`${id}\`: ${checkTitle(id)} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  lines.push(...CHECKSUMS_BY_VENDOR);
  lines.push("## Why each cell that is not ok");
  lines.push("");
  lines.push(...notes.map((n) => n.replace(/\|/g, "\\|")));
  lines.push("");
  return lines.join("\n");
}

if (!existsSync(input)) {
  console.error(`conformance: ${input} not found (run the vitest projects with the JSON reporter first)`);
  process.exit(1);
}
const found = records(input);
const missing = (Object.keys(CONFORMANCE_COLUMNS) as ConformanceColumn[]).filter((c) => !found.has(c));
if (check) {
  if (missing.length > 0) {
    const why = `not in this run: ${missing.join(", ")} (a server was not running, or their tests did not run)`;
    if (process.env.CI === "true") {
      console.error(`conformance: FAIL: ${why}`);
      process.exit(1);
    }
    console.warn(`conformance: cannot check docs/conformance.md, ${why}`);
    process.exit(0);
  }
  const want = render(found);
  const have = existsSync(page) ? readFileSync(page, "utf8") : "";
  if (have !== want) {
    const a = have.split("\n");
    const b = want.split("\n");
    const at = b.findIndex((line, i) => line !== a[i]);
    console.error(
      `conformance: docs/conformance.md differs from this run (first at line ${at + 1}):\n  page: ${a[at] ?? "(end)"}\n  run:  ${b[at] ?? "(end)"}\nregenerate it: node scripts/conformance.ts ${input}`,
    );
    process.exit(1);
  }
  console.log("conformance: docs/conformance.md matches this run");
} else {
  if (missing.length > 0) console.warn(`conformance: columns not in this run: ${missing.join(", ")}`);
  writeFileSync(page, render(found));
  console.log(`conformance: wrote docs/conformance.md (${found.size} columns)`);
}
