/**
 * The chain stores only `keccak256(service name)`; this dictionary turns hashes back into
 * names for display. Names are public (they are what the operator typed), but only names whose
 * hash a scope on chain holds are recorded, which bounds the dictionary by what scopes cost.
 *
 * @module
 */

import { isValidName, serviceHash } from "../identity/mod.ts";
import { BrokerRefusal } from "./_errors.ts";
import type { Hex } from "./_identity.ts";

/**
 * ```ts
 * const names = new ServiceNames(kv);
 * await names.learn(["openai"], new Set([serviceHash("openai")]));
 * await names.nameOf(serviceHash("openai")); // "openai"
 * ```
 */
export class ServiceNames {
  constructor(private readonly kv: Deno.Kv) {}

  /**
   * Records names whose hash is in `scoped` (hashes some scope on chain holds); refuses a name
   * that is not a valid service name (`TypeError`) or not in `scoped` (`out_of_scope`), and then
   * records none of the list.
   */
  async learn(names: readonly string[], scoped: ReadonlySet<Hex>): Promise<void> {
    for (const name of names) {
      if (!isValidName(name)) throw new TypeError(`invalid service name: ${name}`);
      if (!scoped.has(serviceHash(name))) {
        throw new BrokerRefusal(
          "out_of_scope",
          `${name} is in no scope of this operator's agents on chain: set the scope first`,
        );
      }
    }
    let op = this.kv.atomic();
    for (const name of names) op = op.set(["service_name", serviceHash(name)], name);
    await op.commit();
  }

  /** The name for a hash, or the hash itself when nobody taught it. */
  async nameOf(hash: Hex): Promise<string> {
    return (await this.kv.get<string>(["service_name", hash])).value ?? hash;
  }
}
