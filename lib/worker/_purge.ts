/**
 * Tearing down a revoked agent's blobs. Once an agent is revoked no cap can be minted for it, so
 * nothing could ever delete its credentials, memory and inbound messages; its operator can, with
 * this, after the revocation is on chain.
 *
 * @module
 */

import type { AuditLog } from "../state/mod.ts";
import { type BlobStore, StoreError } from "../store/mod.ts";
import { WorkerError } from "./_errors.ts";
import { confirmRefusal, type IdentityReader, isOmni } from "../identity/mod.ts";
import { actorHexOf } from "./_layout.ts";

type Hex = `0x${string}`;

/** The chain reads a purge needs (the chain client provides them). */
export type AgentDirectory = Pick<IdentityReader, "agentsOf" | "getDevice" | "sync">;

/** What an {@linkcode AgentPurger} works with. */
export interface AgentPurgerDeps {
  store: BlobStore;
  identity: AgentDirectory;
  /** Every purge is recorded (`agent_purged`), also one a store failure cut short. */
  audit?: AuditLog;
  /** Receives store failure details (paths, endpoints), which answers never carry. */
  warn?: (message: string) => void;
}

/**
 * ```ts
 * const purger = new AgentPurger({ store, identity: chainClient, audit });
 * const { deleted } = await purger.purge(session.operatorOmni, actorOmni, { by: session.address });
 * ```
 */
export class AgentPurger {
  constructor(private readonly deps: AgentPurgerDeps) {}

  /**
   * Deletes every blob under `bots/<actor>/` (credentials, memory, inbound) of an agent of
   * `operatorOmni` whose every device is revoked on chain. Refuses with {@linkcode WorkerError}:
   * `bad_request` (not an omni, or the operator's own), `other_operator` (no agent of this
   * operator, so possibly another's), `agent_active` (a device of it is not revoked),
   * `store_unavailable`. Deleting what is already gone is not an error: a re-run continues.
   */
  async purge(
    operatorOmni: string,
    actorOmni: unknown,
    options: { by?: string } = {},
  ): Promise<{ deleted: number }> {
    if (!isOmni(actorOmni)) {
      throw new WorkerError("bad_request", "actor_omni must be 0x + 64 lowercase hex");
    }
    if (actorOmni === operatorOmni) {
      throw new WorkerError("bad_request", "actor_omni is the operator itself, not an agent");
    }
    // A refusal is confirmed at the chain's latest block: a revocation mined a moment ago counts.
    await confirmRefusal(this.deps.identity, () => this.#revokedAgent(operatorOmni, actorOmni));
    const prefix = `bots/${actorHexOf(actorOmni)}/`;
    let deleted = 0;
    let failure: StoreError | undefined;
    try {
      for await (const item of this.deps.store.list(prefix)) {
        if (await this.deps.store.delete(item.key)) deleted++;
      }
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      failure = err;
    }
    await this.deps.audit?.append("agent_purged", {
      operator_omni: operatorOmni,
      actor_omni: actorOmni,
      deleted,
      complete: failure === undefined,
      ...(options.by === undefined ? {} : { by: options.by }),
    });
    if (failure) {
      this.deps.warn?.(`purge of ${actorOmni}: blob store error: ${failure.message}`);
      throw new WorkerError(
        "store_unavailable",
        `the blob store failed after ${deleted} deletions; purge again to finish`,
        { cause: failure },
      );
    }
    return { deleted };
  }

  /** Refuses unless `actorOmni` is an agent of `operatorOmni` whose every device is revoked. */
  async #revokedAgent(operatorOmni: string, actorOmni: string): Promise<void> {
    const devices = [];
    for (const hash of await this.deps.identity.agentsOf(operatorOmni as Hex)) {
      const device = await this.deps.identity.getDevice(hash);
      if (device?.actorOmni === actorOmni && device.operatorOmni === operatorOmni) {
        devices.push(device);
      }
    }
    if (devices.length === 0) {
      // Whether it is another operator's agent or nobody's is not this operator's business.
      throw new WorkerError("other_operator", "no agent with this actor_omni belongs to you");
    }
    if (devices.some((d) => !d.revoked)) {
      throw new WorkerError(
        "agent_active",
        "this agent is not revoked; revoke it on chain first, then purge",
      );
    }
  }
}
