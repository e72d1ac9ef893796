/**
 * Output of the `tidemark` command: text or JSON on stdout, one-line errors
 * and progress bars on stderr, and the exit codes.
 *
 * @module
 */
import type { SingleBar } from "cli-progress";
import { type ErrorCode, toTidemarkError } from "../errors.ts";

/** Exit codes of the `tidemark` command (also in `tidemark --help` and docs/cli.md). */
export const EXIT = {
  /** Success (and, for verify, every file present with the right size). */
  ok: 0,
  /** An operation failed, or verify found missing, wrong-size, foreign or damaged files. */
  failure: 1,
  /** A usage error: bad option or argument, bad store URL, credentials on the command line. */
  usage: 2,
  /** Another writer is active: `SplitBrain` or `StaleVersion`. Stop and investigate. */
  conflict: 3,
  /** The store was unavailable (`Transient` after retries): safe to run again later. */
  unavailable: 4,
  /**
   * `checkpoint verify` could not check (no checkpoint state at the URL, a
   * store that cannot list, access refused), or `verify --deep` found
   * nothing wrong but files with no recorded checksum: not judged, unlike 1.
   */
  unchecked: 5,
} as const;

/** The exit code for an error code. */
function exitCodeOf(code: ErrorCode): number {
  switch (code) {
    case "InvalidArgument":
      return EXIT.usage;
    case "SplitBrain":
    case "StaleVersion":
      return EXIT.conflict;
    case "Transient":
      return EXIT.unavailable;
    default:
      return EXIT.failure;
  }
}

/** Where the command writes: injected so tests can run it in-process. */
export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** stderr is a terminal (progress bars are drawn only then). */
  stderrIsTTY: boolean;
  /** The stream cli-progress draws on (process.stderr). */
  progressStream?: NodeJS.WritableStream;
  /**
   * Resolves when stdout has room again (a pipe whose reader is slower than
   * the command): long outputs wait on it, so what waits to be printed stays
   * bounded. Absent: always room.
   */
  stdoutDrained?: () => Promise<void>;
}

/** Per-command output options. */
export interface OutputOptions {
  json?: boolean;
  debug?: boolean;
  progress?: boolean;
}

/** A progress bar that does nothing unless stderr is a TTY and the output is not JSON. */
export interface Progress {
  /** A bar will be drawn (worth spending a request to learn the total). */
  readonly active: boolean;
  start(total: number, label: string): void;
  update(value: number, total?: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { active: false, start() {}, update() {}, stop() {} };

/**
 * A progress bar on stderr, or a no-op when it would disturb a pipe or JSON
 * output. cli-progress is loaded only when a bar will be drawn.
 */
export async function progressBar(io: Io, opts: OutputOptions): Promise<Progress> {
  if (opts.json || opts.progress === false || !io.stderrIsTTY || !io.progressStream) return NO_PROGRESS;
  const stream = io.progressStream;
  const { SingleBar } = await import("cli-progress");
  let bar: SingleBar | undefined;
  return {
    active: true,
    start(total, label) {
      bar?.stop();
      bar = new SingleBar({
        format: `${label} [{bar}] {value}/{total} {eta_formatted}`,
        stream,
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 20,
      });
      bar.start(total, 0);
    },
    update(value, total) {
      if (total !== undefined) bar?.setTotal(total);
      bar?.update(value);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/** Formats bytes for people: `12.0 KiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A millisecond timestamp as ISO 8601, or `-` when unset (0). */
export function formatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : "-";
}

/** Writes JSON (one document) to stdout. BigInts become numbers when safe, else strings. */
export function printJson(io: Io, value: unknown): void {
  io.stdout(
    `${JSON.stringify(
      value,
      (_k, v: unknown) =>
        typeof v === "bigint"
          ? v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(v)
            : String(v)
          : v,
      2,
    )}\n`,
  );
}

/**
 * Reports an error: one line `tidemark: [Code] message` on stderr (with the
 * stack and causes only under `--debug`), plus `{ ok: false, error }` on
 * stdout under `--json`. Returns the exit code.
 */
export function reportError(io: Io, e: unknown, opts: OutputOptions): number {
  const err = toTidemarkError(e);
  // One line: a message with newlines (an XML body, a multi-line cause) is folded.
  io.stderr(`tidemark: ${err.message.replace(/\s*\n\s*/g, " ")}\n`);
  if (opts.debug) {
    let cur: unknown = e;
    for (let depth = 0; cur !== undefined && depth < 8; depth++) {
      const stack = cur instanceof Error ? (cur.stack ?? cur.message) : String(cur);
      io.stderr(`${depth === 0 ? "" : "caused by: "}${stack}\n`);
      cur = cur instanceof Error ? cur.cause : undefined;
    }
  }
  if (opts.json) printJson(io, { ok: false, error: { code: err.code, message: err.message } });
  return exitCodeOf(err.code);
}
