/**
 * A test K1 and cap grants, so worker tests can mint caps before the broker exists.
 *
 * @module
 */

import { exportJWK } from "jose";
import { type CapKeySet, capKeySet, jwsSigner, mintCap } from "../../lib/cap/mod.ts";
import type { CapGrant } from "../../lib/cap/_claims.ts";
import type { CapSigningKey } from "../../lib/cap/_token.ts";

export const OPERATOR = "0x" + "11".repeat(32);
export const ACTOR = "0x" + "22".repeat(32);
export const OTHER_ACTOR = "0x" + "33".repeat(32);
export const DEVICE = "0x" + "44".repeat(32);
/** The `jti` of the (imaginary) session that minted test caps. */
export const SESSION_ID = "55".repeat(16);

export interface TestCapKey {
  signing: CapSigningKey;
  /** The same Ed25519 key for `jose` (`SignJWT`), to hand-craft tokens. */
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  keys: CapKeySet;
  mint(grant: Partial<CapGrant>, options?: { ttlSeconds?: number; now?: Date }): Promise<string>;
}

/** A fresh Ed25519 key pair (as K1's) and a minting shortcut with sensible defaults. */
export async function testCapKey(kid = "test-k1"): Promise<TestCapKey> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg: "EdDSA" };
  const signing = jwsSigner(await exportJWK(pair.privateKey), kid);
  return {
    signing,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    keys: capKeySet({ keys: [publicJwk] }),
    async mint(grant, options) {
      return (await mintCap(credGrant(grant), signing, options)).cap;
    },
  };
}

/** A credentials store grant for ACTOR/openai unless overridden. */
export function credGrant(overrides: Partial<CapGrant> = {}): CapGrant {
  const base: CapGrant = {
    op: "store",
    data_class: "credentials",
    service: "openai",
    operator_omni: OPERATOR,
    actor_omni: ACTOR,
    device_key_hash: DEVICE,
    read_only: false,
    minted_by: "agent",
    k3_epoch: 1,
    sid: SESSION_ID,
  };
  const merged = { ...base, ...overrides };
  if (merged.data_class === "memory" && overrides.service === undefined) {
    delete merged.service;
    merged.namespace ??= "notes";
  }
  return merged;
}
