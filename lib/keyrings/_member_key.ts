/**
 * A member's published key: its X25519 public key signed (EIP-191) by the same secp256k1 key
 * it was derived from, so whoever wraps a group key to it can check whose it is — the operator's
 * wallet (`operatorOmniOf(signer) == actor`) or the agent's registered device
 * (`deviceKeyHash(signer)` is the device on chain).
 *
 * @module
 */

import { recoverMessageAddress } from "viem";
import { isOmni } from "../identity/mod.ts";
import { KeyringError } from "./_errors.ts";
import type { MemberKey, MessageSigner } from "./_hpke.ts";

/** A member key as published and served. */
export interface PublishedMemberKey {
  actor_omni: string;
  /** 32 bytes, standard base64. */
  kem_public_key: string;
  /** The lowercase address whose key signed (and derived) it. */
  signer_address: string;
  signature: string;
}

/** The EIP-191 message of a published member key. */
export function memberKeyMessage(actorOmni: string, kemPublicKey: string): string {
  return `agentkeys.keyring-member-key.v1:${actorOmni}:${kemPublicKey}`;
}

/**
 * ```ts
 * const published = await signMemberKey(myOmni, await deriveMemberKey(account), account);
 * ```
 */
export async function signMemberKey(
  actorOmni: string,
  key: MemberKey,
  signer: MessageSigner & { address: string },
): Promise<PublishedMemberKey> {
  const kem_public_key = key.publicKey.toBase64();
  const signature = await signer.signMessage({
    message: memberKeyMessage(actorOmni, kem_public_key),
  });
  return {
    actor_omni: actorOmni,
    kem_public_key,
    signer_address: signer.address.toLowerCase(),
    signature: signature.toLowerCase(),
  };
}

/**
 * Parses a published member key and checks that `signer_address` signed it. Whether that address
 * may speak for `actor_omni` is the caller's check (it knows the operator or the device).
 * Throws `member_key_invalid`.
 *
 * ```ts
 * const key = await verifyMemberKey(body);
 * if (deviceKeyHash(key.signer_address) !== agent.device_key_hash) refuse();
 * ```
 */
export async function verifyMemberKey(value: unknown): Promise<PublishedMemberKey> {
  const bad = (why: string): never => {
    throw new KeyringError("member_key_invalid", why);
  };
  if (typeof value !== "object" || value === null) bad("a member key is a JSON object");
  const v = value as Record<string, unknown>;
  if (!isOmni(v.actor_omni)) bad("actor_omni is not an omni");
  if (
    typeof v.kem_public_key !== "string" || !/^[A-Za-z0-9+/]{43}=$/.test(v.kem_public_key)
  ) bad("kem_public_key must be 32 bytes of base64");
  if (typeof v.signer_address !== "string" || !/^0x[0-9a-f]{40}$/.test(v.signer_address)) {
    bad("signer_address must be a lowercase address");
  }
  if (typeof v.signature !== "string" || !/^0x[0-9a-f]{130}$/.test(v.signature)) {
    bad("signature must be 65 bytes of lowercase hex");
  }
  let recovered = "";
  try {
    recovered = (await recoverMessageAddress({
      message: memberKeyMessage(v.actor_omni as string, v.kem_public_key as string),
      signature: v.signature as `0x${string}`,
    })).toLowerCase();
  } catch {
    bad("the member key signature does not recover");
  }
  if (recovered !== v.signer_address) bad("the member key is not signed by signer_address");
  return {
    actor_omni: v.actor_omni as string,
    kem_public_key: v.kem_public_key as string,
    signer_address: v.signer_address as string,
    signature: v.signature as string,
  };
}
