/**
 * Member keys and group-key wrapping: HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, AES-256-GCM, through `@hpke/core`. Its own X25519 KEM uses WebCrypto's X25519
 * (Deno and current browsers), about twice as fast here as the `@hpke/dhkem-x25519` package
 * (pure JS), which matters when a removal wraps a new group key to a hundred members.
 *
 * @module
 */

import { Aes128Gcm, Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { KeyringError } from "./_errors.ts";

/** The fixed message a member's secp256k1 key signs (EIP-191) to derive its X25519 key. */
export const MEMBER_KEY_MESSAGE = "agentkeys.keyring-key.v1";

const utf8 = new TextEncoder();
const GK_INFO = "agentkeys.keyring-gk.v1";

/**
 * The HPKE suite the keyrings use. `aead` is a parameter only so that the RFC 9180 test vectors
 * (published for AES-128-GCM with this KEM and KDF) run through the same construction.
 *
 * ```ts
 * const suite = hpkeSuite(); // X25519 / HKDF-SHA256 / AES-256-GCM
 * ```
 */
export function hpkeSuite(aead: "aes-256-gcm" | "aes-128-gcm" = "aes-256-gcm"): CipherSuite {
  return new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: aead === "aes-256-gcm" ? new Aes256Gcm() : new Aes128Gcm(),
  });
}

const SUITE = hpkeSuite();

/** A member's X25519 key pair; `publicKey` is the 32 raw bytes published in the ring record. */
export interface MemberKey {
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array;
}

/** Anything that signs an EIP-191 message: a viem account, a wallet client bound to an account. */
export interface MessageSigner {
  signMessage(args: { message: string }): Promise<`0x${string}`>;
}

/**
 * The member key of a secp256k1 key: its EIP-191 signature of {@linkcode MEMBER_KEY_MESSAGE}
 * (RFC 6979, so always the same) through HKDF-SHA256 into RFC 9180's DeriveKeyPair. Nothing new
 * to store: the same wallet or device key gives the same member key every time.
 *
 * ```ts
 * const key = await deriveMemberKey(privateKeyToAccount(deviceKey));
 * ```
 */
export async function deriveMemberKey(signer: MessageSigner): Promise<MemberKey> {
  return await memberKeyFromSignature(await signer.signMessage({ message: MEMBER_KEY_MESSAGE }));
}

/** {@linkcode deriveMemberKey} from the signature itself (65 bytes, 0x-hex). */
export async function memberKeyFromSignature(signature: string): Promise<MemberKey> {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
    throw new KeyringError("member_key_invalid", "the key signature is not 65 bytes of hex");
  }
  const sig = Uint8Array.fromHex(signature.slice(2));
  const base = await crypto.subtle.importKey("raw", sig, "HKDF", false, ["deriveBits"]);
  const ikm = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: utf8.encode(MEMBER_KEY_MESSAGE),
      info: utf8.encode("x25519"),
    },
    base,
    256,
  );
  const pair = await SUITE.kem.deriveKeyPair(ikm);
  const publicKey = new Uint8Array(await SUITE.kem.serializePublicKey(pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/** What a wrapped group key is bound to: a wrap for one member, ring and rotation only. */
export interface WrapContext {
  operator_omni: string;
  ring: string;
  rotation: number;
  actor_omni: string;
}

function wrapInfo(c: WrapContext): Uint8Array {
  return utf8.encode(`${GK_INFO}|${c.operator_omni}|${c.ring}|${c.rotation}|${c.actor_omni}`);
}

/** Length of a wrapped group key: enc (32) ‖ AES-256-GCM of 32 bytes (48). */
export const WRAPPED_KEY_BYTES = 80;

/**
 * Wraps a 32-byte group key to a member's public key (HPKE base mode, single shot); the info
 * string binds operator, ring, rotation and member, so a wrap cannot be moved to another slot.
 *
 * ```ts
 * const wrapped = await wrapGroupKey(member.publicKey, gk, { operator_omni, ring, rotation, actor_omni });
 * ```
 */
export async function wrapGroupKey(
  publicKey: Uint8Array,
  groupKey: Uint8Array,
  context: WrapContext,
): Promise<Uint8Array> {
  let recipientPublicKey: CryptoKey;
  try {
    recipientPublicKey = await SUITE.kem.deserializePublicKey(publicKey.slice().buffer);
  } catch (err) {
    throw new KeyringError("member_key_invalid", "not an X25519 public key", { cause: err });
  }
  const { enc, ct } = await SUITE.seal({ recipientPublicKey, info: wrapInfo(context) }, groupKey);
  const out = new Uint8Array(WRAPPED_KEY_BYTES);
  out.set(new Uint8Array(enc), 0);
  out.set(new Uint8Array(ct), 32);
  return out;
}

/** The inverse of {@linkcode wrapGroupKey}; throws `not_a_member` when the key does not open it. */
export async function unwrapGroupKey(
  privateKey: CryptoKey,
  wrapped: Uint8Array,
  context: WrapContext,
): Promise<Uint8Array<ArrayBuffer>> {
  if (wrapped.length !== WRAPPED_KEY_BYTES) {
    throw new KeyringError("record_invalid", "a wrapped group key has the wrong length");
  }
  try {
    const pt = await SUITE.open(
      { recipientKey: privateKey, enc: wrapped.slice(0, 32).buffer, info: wrapInfo(context) },
      wrapped.slice(32).buffer,
    );
    return new Uint8Array(pt);
  } catch (err) {
    throw new KeyringError(
      "not_a_member",
      `this member key does not open the group key of rotation ${context.rotation}`,
      { cause: err },
    );
  }
}
