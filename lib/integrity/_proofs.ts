/**
 * {@linkcode BlobProofs}: what `GET /v1/cred/proof` (and the memory and inbound variants)
 * answers — a blob's pointer, the latest anchor that covers it and its Merkle path — for the
 * operator the actor belongs to. Thin over {@linkcode PointerAnchors.proof}; the object key
 * comes from the worker's layout, never from the request.
 *
 * @module
 */

import type { Hex } from "viem";
import { type IdentityReader, isOmni } from "../identity/mod.ts";
import {
  actorHexOf,
  checkName,
  credentialLocation,
  inboundLocation,
  memoryLocation,
} from "../worker/mod.ts";
import type { PointerAnchors, PointerProof } from "./_anchor.ts";

/** Why a proof is refused; the codes are the worker's (`routes/errors.ts` maps them). */
export class ProofRefused extends Error {
  constructor(readonly code: "bad_request" | "other_operator" | "not_found", message: string) {
    super(message);
    this.name = "ProofRefused";
  }
}

/** Which blob: a credential, a memory object, or an inbound message. */
export type ProofTarget =
  | { dataClass: "credentials"; service: unknown }
  | { dataClass: "memory"; namespace: unknown; name: unknown }
  | { dataClass: "inbound"; messageId: unknown };

/** The answer: the proof plus where to check the root. */
export interface BlobProof extends PointerProof {
  chain_id: number | null;
  /** The VaultAnchor contract holding the anchored roots; `null` when none is configured. */
  vault_anchor: string | null;
  /** The hashing, named so a verifier can refuse a format it does not know. */
  format: "agentkeys.smt.v1";
}

/**
 * ```ts
 * const proofs = new BlobProofs({ anchors, identity: chain.client, chainId: 31337, vaultAnchor });
 * const p = await proofs.prove(operatorOmni, actorOmni, { dataClass: "credentials", service: "openai" });
 * ```
 */
export class BlobProofs {
  constructor(
    readonly deps: {
      anchors: PointerAnchors;
      identity: Pick<IdentityReader, "agentsOf" | "getDevice">;
      chainId: number | null;
      vaultAnchor?: string;
    },
  ) {}

  async prove(operatorOmni: string, actorOmni: unknown, target: ProofTarget): Promise<BlobProof> {
    if (!isOmni(actorOmni)) {
      throw new ProofRefused("bad_request", "actor_omni must be 0x + 64 lowercase hex");
    }
    const key = this.#key(actorHexOf(actorOmni), target);
    if (actorOmni !== operatorOmni && !(await this.#isAgentOf(operatorOmni, actorOmni))) {
      throw new ProofRefused("other_operator", "this actor_omni is neither you nor your agent");
    }
    const proof = await this.deps.anchors.proof(key);
    if (!proof) throw new ProofRefused("not_found", `no pointer for this ${target.dataClass} blob`);
    return {
      ...proof,
      chain_id: this.deps.chainId,
      vault_anchor: this.deps.vaultAnchor ?? null,
      format: "agentkeys.smt.v1",
    };
  }

  #key(actorHex: string, t: ProofTarget): string {
    try {
      if (t.dataClass === "credentials") {
        return credentialLocation(actorHex, checkName("service", t.service)).key;
      }
      if (t.dataClass === "memory") {
        return memoryLocation(
          actorHex,
          checkName("namespace", t.namespace),
          checkName("name", t.name),
        ).key;
      }
      return inboundLocation(actorHex, checkName("message_id", t.messageId)).key;
    } catch (err) {
      throw new ProofRefused("bad_request", (err as Error).message);
    }
  }

  async #isAgentOf(operatorOmni: string, actorOmni: string): Promise<boolean> {
    for (const hash of await this.deps.identity.agentsOf(operatorOmni as Hex)) {
      const device = await this.deps.identity.getDevice(hash);
      if (device?.actorOmni === actorOmni && device.operatorOmni === operatorOmni) return true;
    }
    return false;
  }
}
