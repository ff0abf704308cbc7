/**
 * The identity-reader port: every read of AgentRegistry and ScopeRegistry a component makes.
 * `ChainClient` (lib/chain) implements it; tests supply fakes. Consumers take the slice they use
 * with `Pick<IdentityReader, …>`, so a fake for one need not fake the rest.
 *
 * ```ts
 * type Checks = Pick<IdentityReader, "getDevice" | "isServiceInScope">;
 * ```
 *
 * @module
 */

import type { Hex } from "viem";

/** A registered device (an agent's key) as AgentRegistry stores it. */
export interface DeviceRecord {
  deviceKeyHash: Hex;
  operatorOmni: Hex;
  actorOmni: Hex;
  label: string;
  generation: number;
  revoked: boolean;
  /** Unix seconds (block timestamp). */
  registeredAt: number;
}

/** An agent's scope as ScopeRegistry stores it. */
export interface ScopeRecord {
  serviceHashes: Hex[];
  readOnly: boolean;
  /** Unix seconds of the last setScope/revokeScope; 0 when never set. */
  updatedAt: number;
}

/**
 * An identity change on chain (AgentRegistry, ScopeRegistry, K3EpochCounter); omnis and hashes
 * are lowercase 0x-prefixed 32-byte hex.
 */
export type IdentityEvent =
  | {
    type: "agent_registered" | "agent_revoked";
    operatorOmni: string;
    actorOmni: string;
    deviceKeyHash: string;
    block: bigint;
  }
  | { type: "scope_set" | "scope_revoked"; operatorOmni: string; actorOmni: string; block: bigint }
  | { type: "epoch_rotated" | "epoch_destroyed"; epoch: number; block: bigint };

/**
 * Where identity events come from: each batch once, in block order (`ChainClient` implements
 * it). Returns the unsubscribe function.
 */
export interface IdentityEventFeed {
  onIdentityEvents(listener: (events: IdentityEvent[]) => void): () => void;
}

/** Reads of AgentRegistry and ScopeRegistry, cached for at most one block by the implementation. */
export interface IdentityReader {
  readonly chainId: number;
  /** `null` when the device was never registered. */
  getDevice(deviceKeyHash: Hex): Promise<DeviceRecord | null>;
  /** Every device key hash the operator registered (revoked ones included), oldest first. */
  agentsOf(operatorOmni: Hex): Promise<Hex[]>;
  /** False for revoked agents (ScopeRegistry decides that on chain). */
  isServiceInScope(
    operatorOmni: Hex,
    actorOmni: Hex,
    serviceHash: Hex,
  ): Promise<{ allowed: boolean; readOnly: boolean }>;
  /** Empty and `updatedAt: 0` when never set. */
  getScope(operatorOmni: Hex, actorOmni: Hex): Promise<ScopeRecord>;
  /**
   * Brings the reader up to the chain's latest block now. An implementation that serves reads
   * from a block learnt in the background has it; callers run it before refusing, so a
   * refusal is never based on a block older than the request. See {@linkcode confirmRefusal}.
   */
  sync?(): Promise<void>;
}

/**
 * Runs `check`; if it throws and `reader` can sync, syncs and runs it once more, so only a
 * refusal that holds at the chain's latest block stands. (Allowing on a block one poll old is
 * what the background head means; refusing on one would turn a just-mined widening — an agent
 * registered, a service added — into a spurious error.)
 *
 * ```ts
 * await confirmRefusal(chain, () => checkDevice(chain, claims));
 * ```
 */
export async function confirmRefusal<T>(
  reader: Pick<IdentityReader, "sync">,
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (!reader.sync) throw err;
    try {
      await reader.sync();
    } catch {
      throw err;
    }
    return await check();
  }
}
