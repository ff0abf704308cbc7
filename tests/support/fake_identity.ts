/**
 * An in-memory identity layer with the chain's rules, for broker tests that do not need anvil.
 * The chain-backed tests prove the real contracts behave the same.
 *
 * @module
 */

import {
  agentActorOmni,
  deviceKeyHash,
  operatorOmniOf,
  serviceHash,
} from "../../lib/identity/mod.ts";
import type { DeviceRecord, Hex, IdentityReader, ScopeRecord } from "../../lib/broker/mod.ts";

export class FakeIdentity implements IdentityReader {
  devices = new Map<Hex, DeviceRecord>();
  byOperator = new Map<Hex, Hex[]>();
  scopes = new Map<string, ScopeRecord>();
  constructor(readonly chainId = 31337) {}

  /** Registers an agent for the operator wallet; returns its omni and device hash. */
  register(operatorAddress: string, label: string, deviceAddress: string, generation = 0) {
    const operatorOmni = operatorOmniOf(operatorAddress);
    const actorOmni = agentActorOmni(operatorOmni, label, generation);
    const hash = deviceKeyHash(deviceAddress);
    this.devices.set(hash, {
      deviceKeyHash: hash,
      operatorOmni,
      actorOmni,
      label,
      generation,
      revoked: false,
      registeredAt: 1,
    });
    this.byOperator.set(operatorOmni, [...(this.byOperator.get(operatorOmni) ?? []), hash]);
    return { operatorOmni, actorOmni, deviceKeyHash: hash };
  }

  revoke(hash: Hex) {
    this.devices.get(hash)!.revoked = true;
  }

  setScope(operatorOmni: Hex, actorOmni: Hex, services: string[], readOnly = false) {
    this.scopes.set(`${operatorOmni}|${actorOmni}`, {
      serviceHashes: services.map((s) => serviceHash(s)),
      readOnly,
      updatedAt: 1,
    });
  }

  getDevice(hash: Hex) {
    return Promise.resolve(this.devices.get(hash) ?? null);
  }
  agentsOf(operatorOmni: Hex) {
    return Promise.resolve(this.byOperator.get(operatorOmni) ?? []);
  }
  getScope(operatorOmni: Hex, actorOmni: Hex) {
    return Promise.resolve(
      this.scopes.get(`${operatorOmni}|${actorOmni}`) ??
        { serviceHashes: [], readOnly: false, updatedAt: 0 },
    );
  }
  async isServiceInScope(operatorOmni: Hex, actorOmni: Hex, hash: Hex) {
    // Like ScopeRegistry: a revoked agent has no scope, whatever is stored.
    const revoked = [...this.devices.values()].some((d) => d.actorOmni === actorOmni && d.revoked);
    if (revoked) return { allowed: false, readOnly: false };
    const scope = await this.getScope(operatorOmni, actorOmni);
    return { allowed: scope.serviceHashes.includes(hash), readOnly: scope.readOnly };
  }
}
