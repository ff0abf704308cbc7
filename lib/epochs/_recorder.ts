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
}

/** A local epoch change the chain does not know about yet. */
export interface PendingChainRecord {
  kind: "advance_epoch" | "epoch_destroyed";
  /** The local epoch: the one activated, or the one destroyed. */
  epoch: number;
  /** `no_recorder`: headless without a chain client; `recorder_failed`: the transaction
   * failed; `epoch_mismatch`: the chain advanced to another epoch than the keystore. */
  reason: "no_recorder" | "recorder_failed" | "epoch_mismatch";
  /** When the local change happened (ISO 8601). */
  at: string;
  error?: string;
  /** The epoch the chain reported, for `epoch_mismatch`. */
  chain_epoch?: number;
}

const pendingKey = (kind: string, epoch: number): Deno.KvKey => [
  "signer",
  "chain_pending",
  kind,
  epoch,
];

/**
 * Pending chain records in KV.
 *
 * ```ts
 * const pending = new KvChainPending(state.kv);
 * await pending.add({ kind: "advance_epoch", epoch: 3, reason: "no_recorder", at });
 * for (const p of await pending.list()) console.log(p.kind, p.epoch);
 * ```
 */
export class KvChainPending {
  constructor(readonly kv: Deno.Kv) {}

  async add(record: PendingChainRecord): Promise<void> {
    await this.kv.set(pendingKey(record.kind, record.epoch), record);
  }

  async remove(record: Pick<PendingChainRecord, "kind" | "epoch">): Promise<void> {
    await this.kv.delete(pendingKey(record.kind, record.epoch));
  }

  /** Oldest epoch first within each kind; advances before destroys. */
  async list(): Promise<PendingChainRecord[]> {
    const out: PendingChainRecord[] = [];
    for await (
      const e of this.kv.list<PendingChainRecord>({ prefix: ["signer", "chain_pending"] })
    ) {
      out.push(e.value);
    }
    return out;
  }
}
