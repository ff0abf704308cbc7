/**
 * The worker's re-check of a verified cap against the chain (§7): the agent's device is still
 * registered and not revoked, and the service is still in scope — so revocation and scope
 * removal take effect within one block, not when the cap expires.
 *
 * @module
 */

import type { CapClaims } from "../cap/mod.ts";
import { confirmRefusal, type IdentityReader, serviceHash } from "../identity/mod.ts";
import { WorkerError } from "./_errors.ts";
import type { CapAuthority } from "./_vault.ts";

type Hex = `0x${string}`;

/** The chain reads this check needs (the chain client provides them, cached per block). */
export type IdentityChecks = Pick<IdentityReader, "getDevice" | "isServiceInScope" | "sync">;

/**
 * ```ts
 * const worker = new VaultWorker({ ..., authority: new ChainCapAuthority(chainClient) });
 * ```
 */
export class ChainCapAuthority implements CapAuthority {
  constructor(private readonly identity: IdentityChecks) {}

  async recheck(claims: CapClaims): Promise<void> {
    // The operator's own data is guarded by its session alone; there is no device to revoke.
    if (claims.actor_omni === claims.operator_omni) return;
    // A refusal is confirmed at the chain's latest block (see confirmRefusal).
    await confirmRefusal(this.identity, () => this.#check(claims));
  }

  async #check(claims: CapClaims): Promise<void> {
    const device = await this.identity.getDevice(claims.device_key_hash as Hex);
    if (
      !device || device.actorOmni !== claims.actor_omni ||
      device.operatorOmni !== claims.operator_omni
    ) {
      throw new WorkerError("out_of_scope", "the agent named by this cap is not registered");
    }
    if (device.revoked) throw new WorkerError("out_of_scope", "the agent's device was revoked");
    if (claims.data_class !== "credentials") return;
    const scope = await this.identity.isServiceInScope(
      claims.operator_omni as Hex,
      claims.actor_omni as Hex,
      serviceHash(claims.service!),
    );
    if (!scope.allowed) {
      throw new WorkerError("out_of_scope", `${claims.service} is no longer in scope`);
    }
    if (claims.minted_by === "agent" && scope.readOnly && claims.op !== "fetch") {
      throw new WorkerError("read_only", `the scope for ${claims.service} became read-only`);
    }
  }
}
