/**
 * Which checkpoint layout a root holds: LaminarDB's current `state-v2/`, the
 * layout it wrote before (`epoch={E}/...` at the root), both (LaminarDB
 * reads only `state-v2/` then), or none. Two listing requests, each stopped
 * at its first key.
 *
 * @module
 */

import { TidemarkError } from "../errors.ts";
import { capabilitiesOf, type ObjectStore } from "../store/types.ts";
import { STATE_V2_PREFIX } from "./state-v2/keys.ts";
import { hasAny } from "./state-v2/listing.ts";

/** What a checkpoint root holds. */
export interface CheckpointLayouts {
  stateV2: boolean;
  legacy: boolean;
}

/**
 * Looks for each layout's keys.
 *
 * @throws TidemarkError `NotSupported` on a store that cannot list (an
 *   `http(s)://` store); store errors.
 */
export async function detectCheckpointLayouts(store: ObjectStore): Promise<CheckpointLayouts> {
  if (capabilitiesOf(store).list === false) {
    throw new TidemarkError(
      "NotSupported",
      `reading checkpoints needs a store that can list; ${store.name} cannot`,
    );
  }
  const [stateV2, legacy] = await Promise.all([hasAny(store, STATE_V2_PREFIX), hasAny(store, "epoch=")]);
  return { stateV2, legacy };
}
