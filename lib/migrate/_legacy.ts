/**
 * The reference implementation's wallet-keyed credential format (issue 13, ARCHITECTURE §16), read
 * only: where its blobs live, which wallet and service a key names, and how a blob decrypts.
 *
 * ```
 * key v1   bots/<wallet, lowercase 0x>/credentials/<service>.enc
 * key v2   bots/<sha256("agentkeys" ‖ "evm" ‖ wallet) hex>/credentials/<service>.enc
 * bytes    version (0x01|0x02) ‖ 12-byte nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag
 * AAD      "agentkeys.cred.aad.v1|" ‖ wallet ‖ "|" ‖ service      (v1)
 *          "agentkeys.cred.aad.v2|" ‖ omni hex ‖ "|" ‖ service    (v2)
 * KEK      SHA-256("agentkeys.kek-derive.v1" ‖ 65-byte EIP-191 signature of
 *          "agentkeys.kek.v1:" ‖ wallet ‖ ":" ‖ service by the legacy signer key)
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { aesGcmOpen } from "../crypto/mod.ts";
import { isValidName, omniToHex, operatorOmniOf } from "../identity/mod.ts";

/** What signs the KEK messages: a viem local account of the legacy signer key. */
export interface LegacySigner {
  signMessage(args: { message: string }): Promise<`0x${string}`>;
}

/** A legacy object key, parsed. */
export interface LegacyKey {
  version: 1 | 2;
  /** v1: the lowercase wallet (`0x` + 40 hex). v2: the 64-hex omni of the path. */
  owner: string;
  service: string;
}

const V1_KEY = /^bots\/(0x[0-9a-f]{40})\/credentials\/([^/]+)\.enc$/;
const V2_KEY = /^bots\/([0-9a-f]{64})\/credentials\/([^/]+)\.enc$/;
const NONCE = 12;
const TAG = 16;
/** The smallest legacy blob: version, nonce, tag. */
export const LEGACY_OVERHEAD = 1 + NONCE + TAG;

/**
 * What a key says in the legacy layout, or `undefined`. A v2 match only says the key *could* be
 * legacy: the same key holds this project's credential of the actor with that omni.
 *
 * ```ts
 * parseLegacyKey("bots/0xab…/credentials/openai.enc"); // { version: 1, owner: "0xab…", service: "openai" }
 * ```
 */
export function parseLegacyKey(key: string): LegacyKey | undefined {
  const v1 = V1_KEY.exec(key);
  if (v1 && isValidName(v1[2])) return { version: 1, owner: v1[1], service: v1[2] };
  const v2 = V2_KEY.exec(key);
  if (v2 && isValidName(v2[2])) return { version: 2, owner: v2[1], service: v2[2] };
  return undefined;
}

/** The legacy v2 path segment of a wallet: the 64 hex of its operator omni (§2). */
export function legacyOmniHex(wallet: string): string {
  return omniToHex(operatorOmniOf(wallet));
}

/** The AAD the reference implementation binds for a blob of `version`. */
export function legacyAad(version: 1 | 2, wallet: string, service: string): Uint8Array {
  const w = wallet.toLowerCase();
  const who = version === 1 ? w : legacyOmniHex(w);
  return new TextEncoder().encode(`agentkeys.cred.aad.v${version}|${who}|${service}`);
}

/**
 * The KEK of `wallet`'s credential `service`: SHA-256 of the derivation label and the signer's
 * EIP-191 signature (deterministic, RFC 6979), 32 bytes.
 *
 * ```ts
 * const kek = await legacyKek(privateKeyToAccount(key), "0xab…", "openai");
 * ```
 */
export async function legacyKek(
  signer: LegacySigner,
  wallet: string,
  service: string,
): Promise<Uint8Array> {
  const signature = await signer.signMessage({
    message: `agentkeys.kek.v1:${wallet.toLowerCase()}:${service}`,
  });
  const sig = Uint8Array.fromHex(signature.slice(2));
  const kek = createHash("sha256").update("agentkeys.kek-derive.v1").update(sig).digest();
  sig.fill(0);
  return new Uint8Array(kek);
}

/** Why a blob is not a legacy blob that opens: a stable code and a sentence. */
export class LegacyOpenFailed extends Error {
  constructor(
    readonly code: "legacy_too_short" | "legacy_version" | "legacy_auth_failed",
    message: string,
  ) {
    super(message);
    this.name = "LegacyOpenFailed";
  }
}

/**
 * Decrypts a legacy blob of `wallet`'s `service`. The version byte picks the AAD; a wrong signer
 * key, wallet, service or any changed byte fails authentication ({@linkcode LegacyOpenFailed}).
 *
 * ```ts
 * const plaintext = openLegacy(kek, "0xab…", "openai", stored.body);
 * ```
 */
export function openLegacy(
  kek: Uint8Array,
  wallet: string,
  service: string,
  blob: Uint8Array,
): Uint8Array {
  if (blob.length < LEGACY_OVERHEAD) {
    throw new LegacyOpenFailed(
      "legacy_too_short",
      `${blob.length} bytes is shorter than a legacy blob`,
    );
  }
  const version = blob[0];
  if (version !== 1 && version !== 2) {
    throw new LegacyOpenFailed("legacy_version", `version byte ${version} is neither 1 nor 2`);
  }
  const plaintext = aesGcmOpen(
    kek,
    blob.subarray(1, 1 + NONCE),
    legacyAad(version, wallet, service),
    blob.subarray(1 + NONCE),
  );
  if (plaintext === null) {
    throw new LegacyOpenFailed(
      "legacy_auth_failed",
      "the legacy blob does not authenticate under this signer key (wrong key, or damaged)",
    );
  }
  return plaintext;
}
