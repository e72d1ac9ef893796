/**
 * The `tidemark` command: `inspect`, `rows`, `diff`, `mirror`, `restore`, `verify`, `doctor`,
 * `checkpoint ls|verify|mirror|prune`, `iceberg`.
 * {@link runCli} runs it in-process (tests); `bin.ts` is the executable.
 *
 * Only the command tree (commander) is loaded up front: each command's module
 * (`commands/*.ts`) is imported when that command runs, so `tidemark --help`
 * loads no store, no protobuf, no Parquet library, and a command loads only
 * what it uses.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { TidemarkError } from "../errors.ts";
import { checkNumber, type NumberRule, OPTIONS, type OptionName, parseNumberOption } from "../options.ts";
import { doctorFlags } from "./commands/doctor-flags.ts";
import type { CliContext } from "./context.ts";
import { DIFF_FORMATS, ROW_FORMATS } from "./formats.ts";
import { EXIT, type OutputOptions, reportError } from "./output.ts";

export type { CliContext } from "./context.ts";

/**
 * The parser of a numeric flag: the library's own check (`parseNumberOption`),
 * so a bad value is `InvalidArgument` naming the flag, a usage error (exit 2).
 */
function numberFlag(flag: string, rule: NumberRule): (v: string) => number {
  // parseNumberOption reads blank text as "unset"; on a command line it is a
  // mistake (`--parallel "$N"` with N unset), never the default.
  return (v) => (v.trim() === "" ? checkNumber(flag, v, rule) : parseNumberOption(flag, v, 0, rule));
}

/** Adds the options every command takes. */
function commonOptions(cmd: Command): Command {
  return cmd
    .option("--json", "print one JSON document on stdout (errors too) instead of text")
    .option("--debug", "print stack traces of errors")
    .option("--no-progress", "never draw progress bars (they are drawn only when stderr is a terminal)");
}

/** The options of a mirror loop (`mirror`, `checkpoint mirror`): `--once`/`--watch`, `--parallel`, `--poll-interval`. */
function loopOptions(cmd: Command, what: string, copies: string): Command {
  return cmd
    .addOption(new Option("--once", "catch up once and exit (default)").conflicts("watch"))
    .addOption(new Option("--watch", `keep mirroring new ${what} until SIGINT/SIGTERM`).conflicts("once"))
    .option(...optionFlag("--parallel <n>", `${copies} copied at once`, "parallelism"))
    .option(
      ...optionFlag(
        "--poll-interval <ms>",
        "with --watch: delay between polls when caught up",
        "pollIntervalMs",
      ),
    );
}

/**
 * A flag that sets a library option: its rule and default are the option's
 * (`OPTIONS`, in src/options.ts, which loads no store: the help stays light),
 * so the flag, the library and the Worker's var agree.
 */
function optionFlag(
  flags: string,
  description: string,
  name: OptionName,
): [string, string, (v: string) => number, number] {
  const rule = OPTIONS[name];
  return [flags, description, numberFlag(flags.split(" ")[0] ?? flags, rule), rule.default];
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

const STORES_HELP = `
Stores:
  ./dir, /abs/dir, file:///abs/dir   a local directory (created on first write)
  s3://bucket/prefix?endpoint=URL&region=R&path-style=true
                                     S3 or compatible (R2, Ceph, MinIO). Credentials only from
                                     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
                                     endpoint and region default to AWS_ENDPOINT_URL(_S3), AWS_REGION
  http(s)://host/path                read-only (a public bucket or the worker's object route)
  memory:, memory:NAME               in-process, empty, gone at exit
  memory:demo                        in-process, seeded with a demo table and checkpoint epochs

Exit codes:
  0  ok
  1  failure (an operation failed, or verify found missing, wrong-size, foreign or damaged files)
  2  usage error (bad option, bad store URL, credentials on the command line)
  3  another writer is active (SplitBrain, StaleVersion)
  4  store unavailable (Transient after retries): safe to run again later
  5  checkpoint verify could not check (no checkpoint state there, a store that cannot list, access refused);
     verify --deep found nothing wrong but files with no recorded checksum (record them with --adopt)

Errors are one line, "tidemark: [Code] message", on stderr (stack traces with --debug).
Docs: docs/cli.md`;

/** Builds the command tree. Each action sets `result.code`. */
function buildProgram(ctx: CliContext, result: { code: number; opts: OutputOptions }): Command {
  const program = new Command("tidemark")
    .description(
      "Inspect, mirror, restore and verify tables (merutable's layouts) and checkpoint state on object stores.",
    )
    .version(version(), "-V, --version")
    // Program options only before the command: `verify --version N` is the snapshot, not ours.
    .enablePositionalOptions()
    .showHelpAfterError(false)
    .addHelpText("after", STORES_HELP);

  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      // commander passes (...positionals, options, command): the options object is second to last.
      const opts = args[args.length - 2] as OutputOptions;
      result.opts = opts;
      try {
        result.code = await fn(...args);
      } catch (e) {
        result.code = reportError(ctx.io, e, opts);
      }
    };

  commonOptions(
    program
      .command("inspect")
      .description(
        "show a table's layout, HEAD, snapshot chain, schema, live files and sizes (and lag behind a source)",
      )
      .argument("<store>", "the table's store (see Stores below)")
      .option("--source <store>", "also report how far this store (a mirror) lags behind <store>")
      .option("--limit <n>", "snapshots of the chain to show (0: all)", numberFlag("--limit", { min: 0 }), 20)
      .option("--files", "list every live file of HEAD (default: only counts and sizes)"),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/inspect.ts")).inspectCommand(ctx, store, opts),
      ),
    );

  commonOptions(
    program
      .command("rows")
      .description(
        "print a table's rows at a version, in primary-key order: merutable's rows (newest per key, deleted keys absent), not its files' rows",
      )
      .argument("<store>", "the table's store (see Stores below)")
      .option("--version <n>", "the version (default: HEAD)", numberFlag("--version", { min: 1 }))
      .option("--limit <n>", "at most this many rows", numberFlag("--limit", { min: 0 }))
      .option(
        "--from-key <json>",
        'first key, as JSON: 10, "eu", ["eu", 10] (a prefix of a composite key too)',
      )
      .option("--to-key <json>", "stop before this key (as JSON, as --from-key)")
      .addOption(new Option("--format <format>", "output format").choices(ROW_FORMATS).default("table")),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) => (await import("./commands/rows.ts")).rowsCommand(ctx, store, opts)),
    );

  commonOptions(
    program
      .command("diff")
      .description(
        "print what changed in a table's rows between versions <a> and <b>: inserts, updates, deletes",
      )
      .argument("<store>", "the table's store (see Stores below)")
      .argument("<a>", "the version before")
      .argument("<b>", "the version after")
      .option("--limit <n>", "at most this many changed keys", numberFlag("--limit", { min: 0 }))
      .option("--from-key <json>", "only keys from this one (as JSON, as for rows)")
      .option("--to-key <json>", "only keys before this one")
      .addOption(new Option("--format <format>", "output format").choices(DIFF_FORMATS).default("table")),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, a: string, b: string, opts) =>
        (await import("./commands/diff.ts")).diffCommand(ctx, store, a, b, opts),
      ),
    );

  commonOptions(
    loopOptions(
      program
        .command("mirror")
        .description("copy a table's snapshots from one store to another, files before manifests")
        .requiredOption("--from <store>", "the primary's store")
        .requiredOption("--to <store>", "the mirror's store"),
      "snapshots",
      "files",
    )
      .option(
        ...optionFlag(
          "--lag-alert <secs>",
          "with --watch: warn on stderr when lag reaches this (0: never)",
          "lagAlertSecs",
        ),
      )
      .option("--iceberg <location>", "also write an Iceberg view of the mirror for readers at this location")
      .option(
        "--iceberg-prefix <prefix>",
        "with --iceberg: the view's prefix on the mirror (default iceberg)",
      )
      .option(
        "--keep-versions <n>",
        "retention: keep the newest n versions on the mirror (HEAD always); older ones are deleted",
        numberFlag("--keep-versions", { min: 1 }),
      )
      .option(
        "--keep-days <d>",
        "retention: keep every version that was the mirror's HEAD in the last d days (with --keep-versions: either keeps)",
        numberFlag("--keep-days", { min: 0, integer: false }),
      )
      .addOption(
        new Option(
          "--lock <mode>",
          "write every data file and manifest with an S3 Object Lock retention (needs --lock-days)",
        ).choices(["governance", "compliance"]),
      )
      .option(
        "--lock-days <d>",
        "with --lock: the retention of each object, in days (at least --keep-days)",
        numberFlag("--lock-days", { min: 0, integer: false }),
      ),
  )
    .addHelpText("after", STORES_HELP)
    .action(wrap(async (opts) => (await import("./commands/mirror.ts")).mirrorCommand(ctx, opts)));

  commonOptions(
    program
      .command("iceberg")
      .description(
        "write (or bring up to date) an Apache Iceberg view of a mirror: a snapshot per version, no data copied",
      )
      .argument("<store>", "the mirror's store (see Stores below)")
      .requiredOption("--location <uri>", "where readers reach the mirror: s3://bucket/prefix or https://...")
      .option("--prefix <prefix>", "the view's prefix on the mirror (default iceberg)"),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/iceberg.ts")).icebergCommand(ctx, store, opts),
      ),
    );

  commonOptions(
    program
      .command("restore")
      .description(
        "write a table (a mirror, or any table) as merutable's posix layout: files, then metadata/vN.metadata.pb, then version-hint.text",
      )
      .requiredOption("--from <store>", "the table to restore (a mirror)")
      .requiredOption("--to <store>", "where merutable's table goes: an empty directory (or s3://...)")
      .option("--version <n>", "the version to restore (default: HEAD)", numberFlag("--version", { min: 1 }))
      .option(...optionFlag("--parallel <n>", "files copied at once", "parallelism")),
  )
    .addHelpText("after", STORES_HELP)
    .action(wrap(async (opts) => (await import("./commands/restore.ts")).restoreCommand(ctx, opts)));

  commonOptions(
    program
      .command("verify")
      .description(
        "check that every file a snapshot references is on the store with the right size (and, with --source, the source's bytes); " +
          "with --deep, from the mirror alone: read every file and check it against the SHA-256 recorded when it was mirrored, " +
          "and as merutable reads it (exit 0 ok, 1 damaged, 5 could not check every file)",
      )
      .argument("<store>", "the table's store (see Stores below)")
      .option("--version <n>", "the snapshot to verify (default: HEAD)", numberFlag("--version", { min: 1 }))
      .option(
        "--source <store>",
        "the mirror's source: also prove each file holds the source's bytes (with --deep: only for --adopt)",
      )
      .option("--deep", "read and hash every file; check Parquet footers, keys, deletion vectors, manifests")
      .option("--all", "with --deep: every version the store holds, not one")
      .option(
        "--adopt",
        "with --deep and --source: record the checksums of files copied before mirrors recorded them, each proven the source's",
      )
      .option(
        "--parallel <n>",
        "with --deep: files read at once (default 4)",
        numberFlag("--parallel", { min: 1, max: 64 }),
      ),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/verify.ts")).verifyCommand(ctx, store, opts),
      ),
    );

  commonOptions(
    doctorFlags(
      program
        .command("doctor")
        .description(
          "probe a live store (create-only, compare-and-swap, listings, ranges, clock, auth): one row per check",
        )
        .argument(
          "<store>",
          "the store (see Stores below); scratch objects go under _tidemark-doctor/, deleted after",
        ),
    ),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/doctor.ts")).doctorCommand(ctx, store, opts),
      ),
    );

  const checkpoint = program
    .command("checkpoint")
    .description(
      "LaminarDB checkpoint state, either layout (state-v2/, or epoch=E/ before it): ls, verify, mirror, prune",
    );
  commonOptions(
    checkpoint
      .command("ls")
      .description(
        "list attempts (state-v2: namespace, floor, seals, lineage) or epochs (sealed with their committer, unsealed), and the restore candidate",
      )
      .argument("<store>", "the checkpoint store (see Stores below)"),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/checkpoint.ts")).checkpointCommand(ctx, "ls", store, opts),
      ),
    );
  commonOptions(
    checkpoint
      .command("verify")
      .description(
        "check every object as LaminarDB's reader does, name each bad one by key, and say whether the newest sealed checkpoint is restorable (exit 0 intact, 1 damaged, 5 could not check)",
      )
      .argument("<store>", "the checkpoint store (see Stores below)")
      .option(
        "--headers-only",
        "read only each object's header and size, not its payload (no SHA-256 check)",
      ),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/checkpoint-verify.ts")).checkpointVerifyCommand(ctx, store, opts),
      ),
    );
  commonOptions(
    loopOptions(
      checkpoint
        .command("mirror")
        .description(
          "copy a checkpoint root in either layout: state-v2 (namespace first, each sealed attempt's objects before its seal, the floor after) or the one before it (each sealed epoch's objects before its _COMMIT)",
        )
        .requiredOption("--from <store>", "LaminarDB's checkpoint root")
        .requiredOption("--to <store>", "the copy"),
      "checkpoints",
      "objects",
    ),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (opts) =>
        (await import("./commands/checkpoint-mirror.ts")).checkpointMirrorCommand(ctx, opts),
      ),
    );
  commonOptions(
    checkpoint
      .command("prune")
      .description("delete every epoch below --before (default: the latest committed epoch, which is kept)")
      .argument("<store>", "the checkpoint store (see Stores below)")
      .option("--before <epoch>", "delete epochs below this one", numberFlag("--before", { min: 0 }))
      .option("--force", "allow --before above the latest committed epoch (deletes the latest checkpoint)"),
  )
    .addHelpText("after", STORES_HELP)
    .action(
      wrap(async (store: string, opts) =>
        (await import("./commands/checkpoint.ts")).checkpointCommand(ctx, "prune", store, opts),
      ),
    );

  for (const cmd of [program, ...program.commands, ...checkpoint.commands]) {
    cmd.exitOverride();
    cmd.configureOutput({
      writeOut: (s) => ctx.io.stdout(s),
      // commander's own error lines are replaced by ours (see runCli).
      writeErr: (s) => {
        if (!s.startsWith("error:")) ctx.io.stderr(s);
      },
    });
  }
  return program;
}

/**
 * Runs the command with `argv` (without `node` and the script) and returns
 * its exit code; never throws, never calls `process.exit`.
 */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const result: { code: number; opts: OutputOptions } = { code: EXIT.ok, opts: {} };
  const program = buildProgram(ctx, result);
  const json = argv.includes("--json");
  const debug = argv.includes("--debug");
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) {
        return EXIT.ok;
      }
      if (e.code === "commander.help") return EXIT.usage; // `tidemark` alone: help on stderr
      const message = e.message.replace(/^error:\s*/, "");
      return reportError(ctx.io, new TidemarkError("InvalidArgument", `${message} (see tidemark --help)`), {
        json,
        debug,
      });
    }
    return reportError(ctx.io, e, { json, debug });
  }
  return result.code;
}
