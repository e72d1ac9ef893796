/**
 * Verifies a checkpoint root in whichever layout it holds: LaminarDB's
 * current `state-v2/` ({@link verifyStateV2}) or the layout before it
 * ({@link verifyLegacyCheckpoints}). A root holding both is read as
 * `state-v2` (as LaminarDB reads it), the other layout named in a warning.
 *
 * @module
 */

import { TidemarkError } from "../errors.ts";
import type { ObjectStore } from "../store/types.ts";
import { detectCheckpointLayouts } from "./detect.ts";
import { type LegacyReport, verifyLegacyCheckpoints } from "./legacy-verify.ts";
import { type StateV2Report, type VerifyStateV2Options, verifyStateV2 } from "./state-v2/verify.ts";

/** The verdict on a checkpoint root, in its layout's shape (`layout` says which). */
export type CheckpointReport = StateV2Report | LegacyReport;

/**
 * Verifies the checkpoint root `store` (see {@link verifyStateV2} for the
 * options, used by the `state-v2` layout only).
 *
 * @throws TidemarkError `NotFound` when the root holds neither layout;
 *   `NotSupported` on a store that cannot list; store errors.
 */
export async function verifyCheckpoints(
  store: ObjectStore,
  opts: VerifyStateV2Options = {},
): Promise<CheckpointReport> {
  const layouts = await detectCheckpointLayouts(store);
  if (layouts.stateV2) return verifyStateV2(store, opts);
  if (layouts.legacy) return verifyLegacyCheckpoints(store);
  throw new TidemarkError(
    "NotFound",
    `no checkpoint state in ${store.name}: neither state-v2/ nor epoch=E/ keys`,
  );
}
