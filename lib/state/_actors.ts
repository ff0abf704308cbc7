/**
 * An operator → actors index kept in Deno KV: which actors have written blobs on behalf of an
 * operator. {@linkcode KvWriteLedger} fills it as writes happen; {@linkcode KvActorIndex} reads
 * it, so the headless re-encryption job can enumerate an operator's actors without the chain.
 *
 * It only knows actors that wrote after the ledger was introduced. The chain's `agentsOf` is the
 * authoritative directory; the service (and a headless command that reaches the chain) uses the
 * union of both (`UnionActorDirectory` in `lib/reencrypt`).
 *
 * @module
 */

import { omniFromHex, omniToHex } from "../identity/mod.ts";
/** KV key prefix of the index: `["actors", "by_operator", <operator hex>, <actor hex>]`. */
export const ACTOR_INDEX_PREFIX = ["actors", "by_operator"] as const;

/** The KV key recording that `actorHex` wrote for `operatorHex`. */
export function actorIndexKey(operatorHex: string, actorHex: string): Deno.KvKey {
  return [...ACTOR_INDEX_PREFIX, operatorHex, actorHex];
}

/**
 * The actors of an operator as the KV index knows them (an `ActorDirectory` for
 * `lib/reencrypt`).
 *
 * ```ts
 * const index = new KvActorIndex(state.kv);
 * await index.record(operatorOmni, agentOmni);
 * await index.actorsOf(operatorOmni); // [operatorOmni, agentOmni]
 * ```
 */
export class KvActorIndex {
  constructor(readonly kv: Deno.Kv) {}

  /** The operator itself first, then every actor recorded for it, as `0x` omnis. */
  async actorsOf(operatorOmni: string): Promise<string[]> {
    const op = omniToHex(operatorOmni);
    const out: string[] = [operatorOmni];
    for await (const entry of this.kv.list({ prefix: [...ACTOR_INDEX_PREFIX, op] })) {
      const actor = entry.key[entry.key.length - 1] as string;
      if (actor !== op) out.push(omniFromHex(actor));
    }
    return out;
  }

  /** Records that `actorOmni` belongs to `operatorOmni` (idempotent). */
  async record(operatorOmni: string, actorOmni: string): Promise<void> {
    await this.kv.set(actorIndexKey(omniToHex(operatorOmni), omniToHex(actorOmni)), true);
  }
}
