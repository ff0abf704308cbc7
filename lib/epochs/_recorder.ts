/**
 * Recording epoch changes on chain (`K3EpochCounter`, ARCHITECTURE §6), and what happens when
 * that cannot be done: the keystore is the source of truth for keys, the chain for the public
 * record, and the two can disagree — a rotation whose transaction failed, or a headless setup
 * without a chain client. Each such gap is kept as a *pending chain record* in KV (and in the
 * audit log) until `deno task signer reconcile` records it.
 *
 * @module
 */

/**
 * Writes epoch changes to the chain. The chain client implements it with
 * `K3EpochCounter.advanceEpoch()` and `recordEpochDestroyed(epoch)`; `currentEpoch` (the
 * contract's view) lets `reconcile` catch up without advancing twice.
 */
export interface EpochRecorder {
  advanceEpoch(): Promise<{ epoch: number; txHash: string }>;
  recordEpochDestroyed(epoch: number): Promise<{ txHash: string }>;
  currentEpoch?(): Promise<number>;
  /** The contract's record of an epoch (`destroyedAt` 0: not recorded destroyed). */
  epochInfo?(epoch: number): Promise<{ destroyedAt: number }>;
}
