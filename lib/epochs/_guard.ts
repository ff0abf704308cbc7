/**
 * The destroy guard (ARCHITECTURE §8.5): an epoch may be destroyed only when the latest global
 * census started after the last write recorded under that epoch and counted zero blobs under it.
 * Plugged into `EpochKeystore.destroy(epoch, { guard })`, which runs it inside the keystore lock.
 *
 * @module
 */

import type { DestroyGuard, EpochInfo, RotateGuard } from "../signer/mod.ts";
import type { Census, WriteLedger } from "../state/mod.ts";
import { EpochInUse, EpochTagInUse } from "./_errors.ts";

/** Where the guard reads the latest global census (`KvCensusStore` fits). */
export interface CensusSource {
  latestGlobal(): Promise<Census | null>;
}

/**
 * Decides from a census and the last write whether `epoch` is provably empty (pure). Returns
 * `undefined` when it is, else the {@linkcode EpochInUse} to throw.
 *
 * ```ts
 * checkEpochEmpty(2, census, lastWriteDate); // undefined → safe to destroy
 * ```
 */
export function checkEpochEmpty(
  epoch: number,
  census: Census | null,
  lastWrite: Date | undefined,
): EpochInUse | undefined {
  const lastWriteAt = lastWrite?.toISOString() ?? null;
  if (census === null || census.global === undefined) {
    return new EpochInUse(epoch, "no_census", 0, null, lastWriteAt);
  }
  const summary = { taken_at: census.taken_at, global: { ...census.global } };
  const count = census.global[String(epoch)] ?? 0;
  if (lastWrite !== undefined && Date.parse(census.taken_at) <= lastWrite.getTime()) {
    return new EpochInUse(epoch, "census_before_last_write", count, summary, lastWriteAt);
  }
  if (count > 0) return new EpochInUse(epoch, "blobs_remain", count, summary, lastWriteAt);
  return undefined;
}

/**
 * A {@linkcode DestroyGuard} that refuses with {@linkcode EpochInUse} (carrying the counts)
 * unless the latest global census proves the epoch empty. `--force` callers skip the guard and
 * must record that in the audit log.
 *
 * ```ts
 * const guard = censusDestroyGuard({ censusStore: new KvCensusStore(kv), ledger });
 * await keystore.destroy(1, { guard }); // throws EpochInUse while epoch 1 holds blobs
 * ```
 */
export function censusDestroyGuard(
  deps: { censusStore: CensusSource; ledger: Pick<WriteLedger, "lastWrite"> },
): DestroyGuard {
  return async (epoch: number) => {
    const [census, lastWrite] = await Promise.all([
      deps.censusStore.latestGlobal(),
      deps.ledger.lastWrite(epoch),
    ]);
    const refusal = checkEpochEmpty(epoch, census, lastWrite);
    if (refusal) throw refusal;
  };
}

/**
 * Decides whether epoch `next` may take the tag of the destroyed epoch `destroyed` (pure):
 * only when a global census started after that destruction and counted no blob with the tag.
 * Nothing can write under a destroyed tag, so such a census stays valid until the rotation.
 *
 * ```ts
 * checkTagFree(257, { epoch: 1, state: "destroyed", … }, census); // undefined → may rotate
 * ```
 */
export function checkTagFree(
  next: number,
  destroyed: EpochInfo,
  census: Census | null,
): EpochTagInUse | undefined {
  const tag = String(next % 256);
  const takenAt = census?.taken_at ?? null;
  if (!census?.global || !census.destroyed_tags) {
    return new EpochTagInUse(next, destroyed.epoch, "no_census", 0, takenAt);
  }
  const destroyedAt = Date.parse(destroyed.destroyedAt ?? "");
  if (!(Date.parse(census.taken_at) > destroyedAt)) {
    return new EpochTagInUse(next, destroyed.epoch, "census_before_destroy", 0, takenAt);
  }
  const count = census.destroyed_tags[tag] ?? 0;
  if (count > 0) return new EpochTagInUse(next, destroyed.epoch, "blobs_remain", count, takenAt);
  return undefined;
}

/**
 * A {@linkcode RotateGuard} over the latest global census: refuses with
 * {@linkcode EpochTagInUse} unless {@linkcode checkTagFree} passes.
 *
 * ```ts
 * await keystore.rotate({ guard: censusRotateGuard({ censusStore: new KvCensusStore(kv) }) });
 * ```
 */
export function censusRotateGuard(deps: { censusStore: CensusSource }): RotateGuard {
  return async (next, destroyed) => {
    const refusal = checkTagFree(next, destroyed, await deps.censusStore.latestGlobal());
    if (refusal) throw refusal;
  };
}
