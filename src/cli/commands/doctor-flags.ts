/**
 * The flags of `tidemark doctor`, apart from the command itself so that
 * building the command tree (and `tidemark --help`) loads only the check ids,
 * not the doctor.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { DOCTOR_CHECKS } from "../../doctor/check-ids.ts";

/** Adds the doctor's own flags to its command. */
export function doctorFlags(cmd: Command): Command {
  return cmd
    .option("--checks <ids>", `only these checks, comma-separated (${DOCTOR_CHECKS.join(", ")})`)
    .option("--skip <ids>", "skip these checks, comma-separated")
    .option("--concurrency <n>", "concurrent creators in concurrent-create (2-64, default 8)")
    .option(
      "--page-keys <n>",
      "keys written by list-pagination (default: one more than a list page, 1,001 on S3)",
    )
    .addOption(
      new Option(
        "--lock <mode>",
        "also check Object Lock in this mode: a 3 s retention must refuse deletes, then allow them",
      ).choices(["governance", "compliance"]),
    );
}
