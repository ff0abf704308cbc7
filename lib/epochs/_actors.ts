/**
 * Actor directories for the engine and the census: which actors' blobs belong to an operator.
 *
 * - {@linkcode ChainActorDirectory}: the authoritative answer, from the identity chain — the
 *   operator itself plus the actor of every device `AgentRegistry.agentsOf` lists (revoked ones
 *   included: their blobs still need moving). It takes a structural reader, so this component
 *   does not import `lib/chain` (the chain client and the tests' fake identity both fit).
 * - {@linkcode UnionActorDirectory}: every actor any of several directories knows, in order, once.
 *   The service uses chain ∪ `KvActorIndex`: the chain knows registered agents that never wrote,
 *   the KV index knows actors that wrote before a registration this chain does not hold (an
 *   embedded chain that was reset, say).
 *
 * ```ts
 * const actors = new UnionActorDirectory([new ChainActorDirectory(chain.client), new KvActorIndex(kv)]);
 * await actors.actorsOf(operatorOmni); // ["0x<operator>", "0x<agent>", …]
 * ```
 *
 * @module
 */

import { type IdentityReader, isOmni } from "../identity/mod.ts";
import type { ActorDirectory } from "../reencrypt/mod.ts";

/** What {@linkcode ChainActorDirectory} reads (`ChainClient` fits). */
export type AgentRegistryReader = Pick<IdentityReader, "agentsOf" | "getDevice">;

/** The operator and the actors of its registered devices, from the chain. */
export class ChainActorDirectory implements ActorDirectory {
  constructor(readonly reader: AgentRegistryReader) {}

  async actorsOf(operatorOmni: string): Promise<string[]> {
    const operator = operatorOmni.toLowerCase();
    if (!isOmni(operator)) throw new TypeError(`not an operator omni: ${operatorOmni}`);
    const hashes = await this.reader.agentsOf(operator);
    const devices = await Promise.all(hashes.map((h) => this.reader.getDevice(h)));
    const out: string[] = [operator];
    for (const device of devices) {
      const actor = device?.actorOmni.toLowerCase();
      if (isOmni(actor) && !out.includes(actor)) out.push(actor);
    }
    return out;
  }
}

/** Every actor any of `directories` lists, first-seen order, without repeats. */
export class UnionActorDirectory implements ActorDirectory {
  constructor(readonly directories: readonly ActorDirectory[]) {}

  async actorsOf(operatorOmni: string): Promise<string[]> {
    // Any failure fails the whole answer: a partial list would make a run silently skip blobs.
    const lists = await Promise.all(this.directories.map((d) => d.actorsOf(operatorOmni)));
    const seen = new Set<string>();
    const out: string[] = [];
    for (const actor of lists.flat()) {
      const key = actor.toLowerCase();
      if (!seen.has(key)) {
        seen.add(key);
        out.push(key);
      }
    }
    return out;
  }
}
