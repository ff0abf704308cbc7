/**
 * Sealing small secrets at rest (the K3 keystore, the broker's signing key) under the seal key:
 * AES-256-GCM with a fresh nonce, `nonce ‖ ciphertext ‖ tag`, and a purpose string as AAD so a
 * sealed file of one kind cannot be passed off as another.
 *
 * @module
 */

import { AES_GCM_NONCE_BYTES, aesGcmOpen, aesGcmSeal } from "./_aead.ts";
import { EnvelopeAuthFailed } from "./_errors.ts";

/**
 * ```ts
 * const sealed = sealSecret(sealKey, new TextEncoder().encode("agentkeys.keystore.v1"), bytes);
 * ```
 */
export function sealSecret(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const nonce = crypto.getRandomValues(new Uint8Array(AES_GCM_NONCE_BYTES));
  const body = aesGcmSeal(key, nonce, aad, plaintext);
  const out = new Uint8Array(nonce.length + body.length);
  out.set(nonce, 0);
  out.set(body, nonce.length);
  return out;
}

/** The inverse of {@linkcode sealSecret}; throws `EnvelopeAuthFailed` on a wrong key or altered bytes. */
export function openSecret(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  const plain = sealed.length < AES_GCM_NONCE_BYTES ? null : aesGcmOpen(
    key,
    sealed.subarray(0, AES_GCM_NONCE_BYTES),
    aad,
    sealed.subarray(AES_GCM_NONCE_BYTES),
  );
  if (plain === null) throw new EnvelopeAuthFailed();
  return plain;
}
