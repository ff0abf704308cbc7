/**
 * What the broker reads from the identity layer (the chain), through lib/identity's port; the
 * chain client implements it, tests may supply a fake.
 *
 * @module
 */

import type { DeviceRecord, IdentityReader } from "../identity/mod.ts";

export type Hex = `0x${string}`;
export type { DeviceRecord, IdentityReader, ScopeRecord } from "../identity/mod.ts";

/**
 * Finds the device registered for `actorOmni` among the operator's agents.
 *
 * ```ts
 * const found = await findAgentDevice(chainClient, session.operatorOmni, actorOmni);
 * ```
 */
export async function findAgentDevice(
  identity: Pick<IdentityReader, "agentsOf" | "getDevice">,
  operatorOmni: Hex,
  actorOmni: Hex,
): Promise<{ deviceKeyHash: Hex; device: DeviceRecord } | null> {
  for (const deviceKeyHash of await identity.agentsOf(operatorOmni)) {
    const device = await identity.getDevice(deviceKeyHash);
    if (device && device.actorOmni === actorOmni) return { deviceKeyHash, device };
  }
  return null;
}
