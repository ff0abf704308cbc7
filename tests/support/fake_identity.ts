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
import type { IdentityEventFeed } from "../../lib/broker/mod.ts";
import type { Hex } from "viem";
import type {
  DeviceRecord,
  IdentityEvent,
  IdentityReader,
  ScopeRecord,
} from "../../lib/identity/mod.ts";

export class FakeIdentity implements IdentityReader, IdentityEventFeed {
  devices = new Map<Hex, DeviceRecord>();
  /** Subscribers of the identity event feed; revoke/setScope/emit reach them like a block would. */
  readonly listeners = new Set<(events: IdentityEvent[]) => void>();
  #block = 1n;
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
    const d = this.devices.get(hash)!;
    d.revoked = true;
    const { operatorOmni, actorOmni, deviceKeyHash } = d;
    this.emit({ type: "agent_revoked", operatorOmni, actorOmni, deviceKeyHash, block: 0n });
  }

  onIdentityEvents(listener: (events: IdentityEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Delivers one batch (one "block") to the feed's subscribers. */
  emit(...events: IdentityEvent[]): void {
    const block = ++this.#block;
    for (const l of this.listeners) l(events.map((e) => ({ ...e, block })));
  }

  setScope(operatorOmni: Hex, actorOmni: Hex, services: string[], readOnly = false) {
    this.scopes.set(`${operatorOmni}|${actorOmni}`, {
      serviceHashes: services.map((s) => serviceHash(s)),
      readOnly,
      updatedAt: 1,
    });
    this.emit({ type: "scope_set", operatorOmni, actorOmni, block: 0n });
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
