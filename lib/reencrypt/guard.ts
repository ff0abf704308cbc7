/**
 * The destroy guard (ARCHITECTURE §8.5): an epoch may be destroyed only when the latest global
 * census started after the last write recorded under that epoch and counted zero blobs under it.
 * Plugged into `EpochKeystore.destroy(epoch, { guard })`, which runs it inside the keystore lock.
 *
 * @module
 */

import type { DestroyGuard } from "../signer/mod.ts";
import type { Census, WriteLedger } from "../state/mod.ts";
import { EpochInUse } from "./errors.ts";

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
