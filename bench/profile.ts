/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`) for bench/mirror.ts
 * `--profile`: where the samples of a copy went, by kind of work, per file,
 * several profiles side by side (tidemark's and the floor's), and the
 * functions of tidemark's own modules with the most samples.
 *
 * V8 samples the main thread on a wall clock: a sample in a system call
 * (socket writes) counts while the kernel runs it, and also while the
 * process waits for a core (this machine's 2 cores are shared with the S3
 * server and other work). Compare profiles taken side by side, and kinds of
 * work against each other, rather than the milliseconds against CPU seconds.
 */
import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Kinds of work, in the order of the table; the first rule that matches a frame wins. */
const KINDS: Array<[string, (f: CallFrame, url: string) => boolean]> = [
  ["idle (waiting for I/O)", (f) => f.functionName === "(idle)"],
  ["garbage collection", (f) => f.functionName === "(garbage collector)"],
  [
    "socket writes (system calls)",
    (f, u) =>
      u === "" &&
      /^(writeBuffer|writev|writeLatin1String|writeUtf8String|writeAsciiString)$/.test(f.functionName),
  ],
  [
    "module loading and compiling",
    (_f, u) => /^node:internal\/(modules|bootstrap)|^node:internal\/deps\/(cjs|undici)/.test(u),
  ],
  [
    "SigV4 signing (aws4, node:crypto)",
    (_f, u) => /node_modules\/aws4\/|^node:internal\/crypto|^node:crypto/.test(u),
  ],
  [
    "Node's HTTP client, sockets, streams, events",
    (_f, u) => /^node:(_http|net|events|stream|internal\/(streams|stream_base|http|net|url))/.test(u),
  ],
  ["web streams (Node's)", (_f, u) => u.startsWith("node:internal/webstreams")],
  [
    "promises, timers, microtasks",
    (f, u) =>
      /^node:internal\/(process\/task_queues|timers|async_hooks)|^node:timers/.test(u) ||
      f.functionName === "runMicrotasks",
  ],
  ["tidemark: store/ (S3 client, metering, bodies)", (_f, u) => /\/(dist|src)\/store\//.test(u)],
  ["tidemark: node/ (transport, signer)", (_f, u) => /\/(dist|src)\/node\//.test(u)],
  ["tidemark: mirror/, catalog/, manifest/", (_f, u) => /\/(dist|src)\/(mirror|catalog|manifest)\//.test(u)],
  ["tidemark: cli/ and the rest", (_f, u) => /\/(dist|src)\//.test(u)],
  ["other packages (protobuf, fast-xml-parser, commander...)", (_f, u) => u.includes("/node_modules/")],
  ["the floor's own code (bare-pipe.mjs)", (_f, u) => u.endsWith("bare-pipe.mjs")],
  ["other (V8 program, other natives)", () => true],
];

const maps = new Map<string, SourceMap | undefined>();

/**
 * Where a frame of the bundled command (dist/cli/, built with linked source
 * maps) comes from: its source file (src/... or node_modules/...) and line;
 * other frames as they are.
 */
function original(f: CallFrame): { url: string; line: number } {
  if (!f.url.startsWith("file:") || !f.url.includes("/dist/cli/"))
    return { url: f.url, line: f.lineNumber + 1 };
  const file = fileURLToPath(f.url);
  if (!maps.has(file)) {
    maps.set(
      file,
      existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, "utf8"))) : undefined,
    );
  }
  const entry = maps.get(file)?.findEntry(f.lineNumber, f.columnNumber);
  if (!entry || !("originalSource" in entry)) return { url: f.url, line: f.lineNumber + 1 };
  // Sources are relative to the map: ../../src/..., or a dependency's path under node_modules.
  const src = entry.originalSource.replace(/^.*?\/(src|node_modules)\//, "/$1/");
  return { url: `file://${src}`, line: entry.originalLine + 1 };
}

/** Milliseconds of samples per kind of work (and per tidemark function) in one profile. */
function tally(file: string): { total: number; kinds: Map<string, number>; own: Map<string, number> } {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const kinds = new Map<string, number>();
  const own = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const f = (byId.get(id) as ProfileNode).callFrame;
    const at = original(f);
    const kind = (KINDS.find(([, test]) => test(f, at.url)) as [string, unknown])[0];
    kinds.set(kind, (kinds.get(kind) ?? 0) + ms);
    total += ms;
    const m = /\/(?:dist|src)\/(.*)$/.exec(at.url);
    if (m && !at.url.includes("/node_modules/")) {
      const name = `${f.functionName || "(anonymous)"} (${m[1]}:${at.line})`;
      own.set(name, (own.get(name) ?? 0) + ms);
    }
  });
  return { total, kinds, own };
}

/**
 * A markdown table of where the samples went, one column per profile
 * (ms, and ms per file copied), and the 12 functions of tidemark's modules
 * with the most samples in the first profile.
 */
export function profileTables(profiles: Record<string, string>, files: number): string {
  const names = Object.keys(profiles);
  const t = names.map((n) => tally(profiles[n] as string));
  const f1 = (x: number) => x.toFixed(1);
  const f2 = (x: number) => x.toFixed(2);
  const lines = [
    `| kind of work | ${names.map((n) => `${n}: ms (ms per file)`).join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
  ];
  for (const [kind] of KINDS) {
    if (t.every((x) => (x.kinds.get(kind) ?? 0) === 0)) continue;
    lines.push(
      `| ${kind} | ${t.map((x) => `${f1(x.kinds.get(kind) ?? 0)} (${f2((x.kinds.get(kind) ?? 0) / files)})`).join(" | ")} |`,
    );
  }
  const busy = (x: (typeof t)[number]) => x.total - (x.kinds.get(KINDS[0]?.[0] as string) ?? 0);
  lines.push(
    `| **all but idle** | ${t.map((x) => `**${f1(busy(x))} (${f2(busy(x) / files)})**`).join(" | ")} |`,
  );
  const own = [...(t[0]?.own ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).slice(0, 12);
  lines.push("", `Functions of tidemark's modules with the most samples (${names[0]}, self time):`, "");
  lines.push("| function | ms | ms per file |", "|---|---:|---:|");
  for (const [name, ms] of own) lines.push(`| \`${name}\` | ${f1(ms)} | ${f2(ms / files)} |`);
  return lines.join("\n");
}
