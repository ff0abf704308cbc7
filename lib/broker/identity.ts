/**
 * What the broker and the workers need to read from the identity layer (the chain). The chain
 * component implements it; tests may supply a fake.
 *
 * @module
 */

export type Hex = `0x${string}`;

// The chain client defines these records; the broker reads them through this interface only.
import type { DeviceRecord, ScopeRecord } from "../chain/mod.ts";
export type { DeviceRecord, ScopeRecord };

/** Reads of AgentRegistry and ScopeRegistry, cached for at most one block by the implementation. */
export interface IdentityReader {
  readonly chainId: number;
  /** `null` when the device was never registered. */
  getDevice(deviceKeyHash: Hex): Promise<DeviceRecord | null>;
  agentsOf(operatorOmni: Hex): Promise<Hex[]>;
  isServiceInScope(
    operatorOmni: Hex,
    actorOmni: Hex,
    serviceHash: Hex,
  ): Promise<{ allowed: boolean; readOnly: boolean }>;
  getScope(operatorOmni: Hex, actorOmni: Hex): Promise<ScopeRecord>;
}

/** Finds the device registered for `actorOmni` among the operator's agents. */
export async function findAgentDevice(
  identity: IdentityReader,
  operatorOmni: Hex,
  actorOmni: Hex,
): Promise<{ deviceKeyHash: Hex; device: DeviceRecord } | null> {
  for (const deviceKeyHash of await identity.agentsOf(operatorOmni)) {
    const device = await identity.getDevice(deviceKeyHash);
    if (device && device.actorOmni === actorOmni) return { deviceKeyHash, device };
  }
  return null;
}
