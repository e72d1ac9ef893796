/**
 * Restore: a table (a mirror, or any table `openTable` reads) written back in
 * merutable's posix layout, files, then manifests, then `version-hint.text`,
 * so merutable's catalog opens it.
 *
 * @module
 */
export {
  type RestoreOptions,
  type RestoreProgress,
  type RestoreResult,
  type RestoreSkip,
  restore,
} from "./restore.ts";
