/**
 * The chain stores only `keccak256(service name)`; this dictionary turns hashes back into
 * names for display. Names are public (they are what the operator typed), so any signed-in
 * client may teach them.
 *
 * @module
 */

import { isValidName, serviceHash } from "../identity/mod.ts";
import type { Hex } from "./identity.ts";

/**
 * ```ts
 * const names = new ServiceNames(kv);
 * await names.learn(["openai"]);
 * await names.nameOf(serviceHash("openai")); // "openai"
 * ```
 */
export class ServiceNames {
  constructor(private readonly kv: Deno.Kv) {}

  /** Records names; refuses anything that is not a valid service name. */
  async learn(names: readonly string[]): Promise<void> {
    for (const name of names) {
      if (!isValidName(name)) throw new TypeError(`invalid service name: ${name}`);
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
