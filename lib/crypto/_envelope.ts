/**
 * Envelope v2 (ARCHITECTURE.md §4), the bytes of every stored blob:
 *
 * ```text
 * byte 0        epoch tag = epoch mod 256
 * bytes 1..12   nonce (96 random bits, fresh for every encryption)
 * bytes 13..    AES-256-GCM ciphertext ‖ 16-byte tag
 * AAD           "agentkeys.v2|" ‖ class ‖ "|" ‖ actorHex ‖ "|" ‖ objectName ‖ "|" ‖ epoch (decimal)
 * ```
 *
 * ```ts
 * import { deriveKek, openEnvelope, sealEnvelope } from "./mod.ts";
 * const ctx = { dataClass: "credentials", actorHex, objectName: "github/token" } as const;
 * const kek = deriveKek(k3, ctx.dataClass, ctx.actorHex);
 * const blob = sealEnvelope(kek, 3, ctx, plaintext);
 * const back = openEnvelope(kek, 3, ctx, blob); // throws EnvelopeAuthFailed if anything differs
 * ```
 *
 * Size limits per data class (§4) are enforced by the callers that know the configuration, not
 * here.
 *
 * @module
 */

import { AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES, aesGcmOpen, aesGcmSealInto } from "./_aead.ts";
import { EnvelopeAuthFailed, EnvelopeTooShort } from "./_errors.ts";
import { assertActorHex, assertDataClass, type DataClass, Kek, kekKeyBytes } from "./_kek.ts";

/** Where a blob lives; all of it is bound into the AAD. actorHex = 64 lowercase hex, no 0x. */
export interface EnvelopeContext {
  dataClass: DataClass;
  actorHex: string;
  objectName: string;
}

/** Bytes an envelope adds to its plaintext: 1 (epoch tag) + 12 (nonce) + 16 (GCM tag). */
export const ENVELOPE_OVERHEAD = 29;

const NONCE_OFFSET = 1;
const BODY_OFFSET = NONCE_OFFSET + AES_GCM_NONCE_BYTES;
if (BODY_OFFSET + AES_GCM_TAG_BYTES !== ENVELOPE_OVERHEAD) throw new Error("envelope layout");
const AAD_PREFIX = "agentkeys.v2|";
const utf8 = new TextEncoder();

function assertEpoch(epoch: unknown): asserts epoch is number {
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 1) {
    throw new TypeError("epoch must be an integer >= 1");
  }
}

function assertContext(ctx: unknown): asserts ctx is EnvelopeContext {
  if (typeof ctx !== "object" || ctx === null) throw new TypeError("ctx must be an object");
  const c = ctx as Record<string, unknown>;
  assertDataClass(c.dataClass);
  assertActorHex(c.actorHex);
  const name = c.objectName;
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("objectName must be a non-empty string");
  }
  // A lone surrogate encodes to U+FFFD, so two different names would share one AAD.
  if (!name.isWellFormed()) throw new TypeError("objectName must be well-formed Unicode");
}

/**
 * The AAD for a blob of `epoch` at `ctx` (UTF-8). Pure; validates like the seal/open calls.
 * The encoding is injective: class and actor have fixed alphabets without "|", and the epoch is
 * the last field and has no "|", so an object name containing "|" cannot collide.
 *
 * ```ts
 * envelopeAad(2, { dataClass: "memory", actorHex, objectName: "notes" });
 * // = utf8("agentkeys.v2|memory|" + actorHex + "|notes|2")
 * ```
 */
export function envelopeAad(epoch: number, ctx: EnvelopeContext): Uint8Array<ArrayBuffer> {
  assertEpoch(epoch);
  assertContext(ctx);
  return utf8.encode(
    AAD_PREFIX + ctx.dataClass + "|" + ctx.actorHex + "|" + ctx.objectName + "|" + epoch,
  );
}

/**
 * Encrypts `plaintext` for `ctx` under `kek` and K3 epoch `epoch` with a fresh random nonce.
 * Returns `plaintext.length + 29` bytes. Throws a TypeError on a bad epoch or ctx, and when the
 * KEK was derived for another class or actor than `ctx` names: such a blob could never be
 * opened with the KEK its location implies, so writing it would lose the data.
 *
 * ```ts
 * const blob = sealEnvelope(kek, epoch, ctx, new TextEncoder().encode("s3cret"));
 * ```
 */
export function sealEnvelope(
  kek: Kek,
  epoch: number,
  ctx: EnvelopeContext,
  plaintext: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const aad = envelopeAad(epoch, ctx);
  const key = kekKeyBytes(kek);
  if (kek.dataClass !== ctx.dataClass || kek.actorHex !== ctx.actorHex) {
    throw new TypeError(`${kek} does not match ctx (${ctx.dataClass}, ${ctx.actorHex})`);
  }
  if (!(plaintext instanceof Uint8Array)) throw new TypeError("plaintext must be a Uint8Array");
  // A random 96-bit nonce per blob. SP 800-38D §8.3 allows 2^32 such encryptions per key; with
  // one KEK per (epoch, class, actor) no single actor gets anywhere near that within an epoch.
  const blob = new Uint8Array(ENVELOPE_OVERHEAD + plaintext.length);
  blob[0] = epoch % 256;
  const nonce = blob.subarray(NONCE_OFFSET, BODY_OFFSET);
  crypto.getRandomValues(nonce);
  aesGcmSealInto(key, nonce, aad, plaintext, blob, BODY_OFFSET);
  return blob;
}

/**
 * The epoch tag (byte 0) of a blob, without decrypting: how the signer and the re-encryption
 * scan pick the epoch. Throws {@linkcode EnvelopeTooShort} when the blob is under 29 bytes.
 *
 * ```ts
 * const tag = envelopeEpochTag(blob); // 0..255; map to an epoch via the keystore
 * ```
 */
export function envelopeEpochTag(blob: Uint8Array): number {
  if (!(blob instanceof Uint8Array)) throw new TypeError("blob must be a Uint8Array");
  if (blob.length < ENVELOPE_OVERHEAD) throw new EnvelopeTooShort(blob.length);
  return blob[0];
}

/**
 * Verifies and decrypts a blob sealed by {@linkcode sealEnvelope} for the same `epoch` and
 * `ctx`. Throws {@linkcode EnvelopeTooShort} (< 29 bytes) or {@linkcode EnvelopeAuthFailed}
 * (byte 0 ≠ epoch mod 256, wrong KEK, any other ctx/epoch, or modified bytes). Never returns
 * partial plaintext.
 *
 * ```ts
 * const plaintext = openEnvelope(kek, epoch, ctx, blob);
 * ```
 */
export function openEnvelope(
  kek: Kek,
  epoch: number,
  ctx: EnvelopeContext,
  blob: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const aad = envelopeAad(epoch, ctx);
  const key = kekKeyBytes(kek);
  const tag = envelopeEpochTag(blob);
  // Byte 0 is outside the GCM tag's coverage: this comparison is what refuses a modified byte 0
  // (the full epoch itself is in the AAD). It is public data, so no constant-time concern.
  if (tag !== epoch % 256) throw new EnvelopeAuthFailed();
  const plaintext = aesGcmOpen(
    key,
    blob.subarray(NONCE_OFFSET, BODY_OFFSET),
    aad,
    blob.subarray(BODY_OFFSET),
  );
  if (plaintext === null) throw new EnvelopeAuthFailed();
  return plaintext;
}
