/**
 * What the inspector shows of a mirror's retention: the oldest version it
 * retains (its published boundary, read from the store itself, so a bucket
 * URL shows it too), and from the worker's status the versions kept and the
 * bytes retained and freed. A version asked for in the page's address
 * (`?version=N`, a link into the past) is read as every reader reads it:
 * one below the boundary is refused with the error naming the oldest
 * version retained, and so is a selected one that retention expired since.
 */
import { $, fmtBytes, fmtInt } from "./dom.ts";
import { explain, type Snapshot, type View } from "./state.ts";

/** The retention part of the worker's status (`mirror.retention`), when the table has a policy. */
export interface RetentionJson {
  oldestRetained: number;
  versionsKept: number;
  bytesRetained: number;
  totals: { bytesFreed: number };
}

/** What the page's error line says about retention until another table is opened ("": nothing). */
let notice = "";

/** The retention notice (see {@link readAsked}, {@link followExpired}); `reset` clears it (a table opened). */
export function retentionNotice(reset = false): string {
  if (reset) notice = "";
  return notice;
}

/** The oldest version retained (0: the store publishes no boundary: every version is kept). */
export function renderBoundary(oldest: number): void {
  const box = $("oldest-retained");
  box.textContent = oldest === 0 ? "all" : `v${oldest}`;
  box.dataset.version = String(oldest);
}

/** The worker's retention figures; "–" without a policy (or for a bucket URL). */
export function renderRetention(r: RetentionJson | undefined): void {
  $("versions-kept").textContent = r ? fmtInt(r.versionsKept) : "–";
  $("bytes-retained").textContent = r ? fmtBytes(r.bytesRetained) : "–";
  $("bytes-freed").textContent = r ? fmtBytes(r.totals.bytesFreed) : "–";
}

/** The version the page's address asks for (`?version=N`), if any. */
export function askedVersion(): number | undefined {
  const raw = new URLSearchParams(location.search).get("version");
  return raw !== null && /^[1-9][0-9]*$/.test(raw) ? Number(raw) : undefined;
}

/**
 * Reads `version` of the table (a version the snapshot list does not hold):
 * the snapshot, or `undefined` with why not as the retention notice (an
 * expired version: the error naming the oldest version retained).
 */
export async function readAsked(v: View, version: number): Promise<Snapshot | undefined> {
  try {
    const f = await v.reader.readRetained(version);
    return { version, manifest: f.manifest, bytes: f.bytes };
  } catch (e) {
    notice = explain(e);
    return undefined;
  }
}

/**
 * After a new HEAD: a selected snapshot that retention expired meanwhile
 * (below the boundary, no longer listed) is said to have expired, naming the
 * oldest version retained; the page then follows HEAD.
 */
export function followExpired(selected: number | undefined, listed: Snapshot[], oldest: number): void {
  if (selected !== undefined && selected < oldest && !listed.some((s) => s.version === selected)) {
    notice = `snapshot v${selected} has expired: the oldest version retained is v${oldest}`;
  }
}
