/**
 * Pending chain records: local epoch changes (a rotation, a destruction) the chain does not know
 * about yet, kept until `deno task signer reconcile` (or the next service start) records them.
 * `lib/epochs` decides when to add and remove them; this module only stores.
 *
 * KV layout: `["signer", "chain_pending", kind, epoch]` → {@linkcode PendingChainRecord}.
 *
 * @module
 */

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
