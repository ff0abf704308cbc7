/**
 * What the broker and the workers need to read from the identity layer (the chain). The chain
 * component implements it; tests may supply a fake.
 *
 * @module
 */

export type Hex = `0x${string}`;

/** An agent's device as `AgentRegistry.getDevice` returns it. */
export interface DeviceRecord {
  operatorOmni: Hex;
  actorOmni: Hex;
  label: string;
  generation: number;
  revoked: boolean;
  registeredAt: number;
}

export interface ScopeRecord {
  serviceHashes: Hex[];
  readOnly: boolean;
  updatedAt: number;
}

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
