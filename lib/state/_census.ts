/**
 * Census snapshots (ARCHITECTURE §8.4): how many blobs each K3 epoch holds, globally and per
 * operator. The latest global census is what the destroy guard checks.
 *
 * @module
 */

import { omniToHex } from "../identity/mod.ts";

/** Blob counts keyed by epoch number as a string, plus `"destroyed"` and `"unknown"`. */
export type EpochCounts = Record<string, number>;

/** One census, in the wire shape of API.md (`GET /v1/epochs` → `census`). */
export interface Census {
  /** When the scan *started* (ISO 8601): writes after this moment may be missing from it. */
  taken_at: string;
  /** When the scan finished (ISO 8601). */
  finished_at: string;
  /** `global`: every blob in the store was counted; `operator`: only that operator's actors. */
  scope: "global" | "operator";
  /** Present when `scope` is `global`. */
  global?: EpochCounts;
  /** Present when an operator was given. */
  operator?: EpochCounts;
  /** The operator `operator` counts, `0x` + 64 hex. */
  operator_omni?: string;
  /**
   * Global censuses: the `"destroyed"` blobs split by their one-byte epoch tag (`"7"`: blobs
   * whose tag only destroyed epochs had). Rotating to an epoch with such a tag needs a census
   * taken after the destruction with zero here (see `censusRotateGuard`). Absent in censuses
   * taken before this field existed.
   */
  destroyed_tags?: EpochCounts;
}

const LATEST_GLOBAL: Deno.KvKey = ["census", "latest_global"];
const latestOperatorKey = (hex: string): Deno.KvKey => ["census", "latest_operator", hex];

/**
 * Keeps the latest census in KV: the latest global one, and the latest one per operator.
 *
 * ```ts
 * const censuses = new KvCensusStore(state.kv);
 * await censuses.save(await takeCensus({ store, keys }));
 * (await censuses.latestGlobal())?.global?.["1"]; // blobs still under epoch 1
 * ```
 */
export class KvCensusStore {
  constructor(readonly kv: Deno.Kv) {}

  /** Stores `census` as the latest global and/or latest per-operator census. */
  async save(census: Census): Promise<void> {
    const op = this.kv.atomic();
    if (census.scope === "global") {
      if (!census.global) throw new TypeError("a global census needs global counts");
      op.set(LATEST_GLOBAL, census);
    }
    if (census.operator_omni !== undefined) {
      op.set(latestOperatorKey(omniToHex(census.operator_omni)), census);
    }
    await op.commit();
  }

  /** The latest census that counted the whole store, or `null` before the first one. */
  async latestGlobal(): Promise<Census | null> {
    return (await this.kv.get<Census>(LATEST_GLOBAL)).value;
  }

  /** The latest census with counts for `operatorOmni`, or `null`. */
  async latestFor(operatorOmni: string): Promise<Census | null> {
    return (await this.kv.get<Census>(latestOperatorKey(omniToHex(operatorOmni)))).value;
  }
}
