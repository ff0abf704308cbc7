/**
 * The one AEAD primitive behind envelope v2: AES-256-GCM with a 96-bit nonce and a 128-bit tag.
 * Every other module goes through {@linkcode aesGcmSeal} / {@linkcode aesGcmOpen}, so changing the
 * implementation is a change to this file only.
 *
 * ```ts
 * import { aesGcmOpen, aesGcmSeal } from "./_aead.ts";
 * const sealed = aesGcmSeal(key32, nonce12, aad, plaintext); // ciphertext ‖ 16-byte tag
 * const opened = aesGcmOpen(key32, nonce12, aad, sealed); // plaintext, or null if refused
 * ```
 *
 * ## Why `node:crypto`
 *
 * Measured with `deno run -A bench/envelope.ts` (Deno 2.9.6, OpenSSL 3.0.19, AMD EPYC 2-core
 * shared VM, one core busy), encrypt+decrypt pairs per second, ranges over two runs:
 *
 * | size   | node:crypto (envelope API) | WebCrypto (awaited) | @noble/ciphers | openssl speed |
 * |--------|----------------------------|---------------------|----------------|---------------|
 * | 1 KiB  | 32,800–37,600              | 16,500–20,000       | 7,900–8,100    | 436k–609k     |
 * | 64 KiB | 1,020–1,050                | 2,900–3,400         | 180–250        | 27k–28k       |
 * | 1 MiB  | 68–69                      | 250–280             | 16–18          | 1,760–1,850   |
 *
 * Credentials (typically ≈ 1 KiB, at most 64 KiB) dominate the traffic, and at that size
 * `node:crypto` is ~2× WebCrypto and ~4× noble, and it is synchronous, which keeps the envelope
 * API synchronous (other components call it that way). WebCrypto is 3–4× faster from 64 KiB up
 * (Deno's node GCM runs ~140 MB/s per direction; its per-call cost is what wins at 1 KiB), but a
 * 1 MiB seal+open still takes only ~15 ms with `node:crypto`: not a strong enough reason to make
 * every caller async. If large-blob throughput ever matters, an async WebCrypto variant for big
 * inputs belongs in this file.
 *
 * The raw key is passed to `createCipheriv` as bytes: Deno's polyfill re-exports a `KeyObject`'s
 * bytes on every call anyway, and that measured ~10% slower per call.
 *
 * ## Constant time
 *
 * Nothing here compares tags in JavaScript. Deno 2.9.6's `node:crypto` GCM (Rust,
 * `aead_gcm_stream` + the `aes` crate with AES-NI) checks the tag in `final()` with a plain
 * slice `==` (memcmp), not an explicitly constant-time compare (ext/node/ops/crypto/cipher.rs).
 * Our judgement: acceptable for now. glibc's x86-64 memcmp handles a 16-byte input with one
 * vector compare, so in practice the time does not reveal where the first wrong byte is, and
 * ~12 µs of per-call overhead with its jitter sits on top of a few nanoseconds. It is not a
 * guarantee, though: WebCrypto's path (RustCrypto `aes-gcm`, `subtle` compare) is the explicitly
 * constant-time alternative, and the one to take if that judgement or Deno's build changes.
 * Plaintext that `update()` produced before `final()` rejected the tag is zeroed and dropped,
 * never returned.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";

/** AES-256 key length in bytes. */
export const AES_GCM_KEY_BYTES = 32;
/** GCM nonce length in bytes. Only 96-bit nonces are accepted: other lengths go through GHASH
 * (a different, more fragile code path; see Wycheproof "LongIv"/"SmallIv") and are never needed. */
export const AES_GCM_NONCE_BYTES = 12;
/** GCM tag length in bytes. Truncated tags are never accepted. */
export const AES_GCM_TAG_BYTES = 16;

const ALGORITHM = "aes-256-gcm";

function checkParams(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES_GCM_KEY_BYTES) {
    throw new TypeError(`AES-256-GCM key must be ${AES_GCM_KEY_BYTES} bytes`);
  }
  // node:crypto would silently accept other nonce lengths (it hashes them): refuse here.
  if (!(nonce instanceof Uint8Array) || nonce.length !== AES_GCM_NONCE_BYTES) {
    throw new TypeError(`AES-GCM nonce must be ${AES_GCM_NONCE_BYTES} bytes`);
  }
  if (!(aad instanceof Uint8Array)) throw new TypeError("aad must be a Uint8Array");
}

/**
 * Encrypts `plaintext` and returns `ciphertext ‖ tag` (plaintext.length + 16 bytes).
 * The caller owns nonce uniqueness: never call twice with the same key and nonce.
 *
 * ```ts
 * const out = aesGcmSeal(key, crypto.getRandomValues(new Uint8Array(12)), aad, pt);
 * ```
 */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(plaintext.length + AES_GCM_TAG_BYTES);
  aesGcmSealInto(key, nonce, aad, plaintext, out, 0);
  return out;
}

/**
 * Like {@linkcode aesGcmSeal}, but writes `ciphertext ‖ tag` into `out` at `offset`, so a caller
 * that prepends a header (the envelope) copies the ciphertext once instead of twice.
 *
 * ```ts
 * const blob = new Uint8Array(13 + pt.length + 16);
 * aesGcmSealInto(key, nonce, aad, pt, blob, 13);
 * ```
 */
export function aesGcmSealInto(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): void {
  checkParams(key, nonce, aad);
  if (!(plaintext instanceof Uint8Array)) throw new TypeError("plaintext must be a Uint8Array");
  if (offset < 0 || out.length - offset < plaintext.length + AES_GCM_TAG_BYTES) {
    throw new RangeError("output buffer too small");
  }
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  // GCM is a stream mode: update() returned every ciphertext byte and final() returns none,
  // but final() is what computes the tag.
  if (cipher.final().length !== 0 || body.length !== plaintext.length) {
    throw new Error("unexpected AES-GCM output length");
  }
  out.set(body, offset);
  out.set(cipher.getAuthTag(), offset + body.length);
}

/**
 * Verifies and decrypts `ciphertext ‖ tag`. Returns the plaintext, or `null` when the input is
 * shorter than a tag or the tag does not verify (wrong key, nonce, AAD or modified bytes).
 * Never returns partial plaintext: `final()` (the tag check) runs before anything is returned.
 *
 * ```ts
 * const pt = aesGcmOpen(key, nonce, aad, sealed);
 * if (pt === null) throw new Error("refused");
 * ```
 */
export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array<ArrayBuffer> | null {
  checkParams(key, nonce, aad);
  if (!(sealed instanceof Uint8Array)) throw new TypeError("sealed must be a Uint8Array");
  if (sealed.length < AES_GCM_TAG_BYTES) return null;
  const ctLen = sealed.length - AES_GCM_TAG_BYTES;
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(ctLen));
  // update() streams out plaintext before the tag has been checked: hold it until final().
  const body = decipher.update(sealed.subarray(0, ctLen));
  try {
    // GCM: final() returns no bytes; it is the tag check, and throws when the tag is wrong.
    decipher.final();
  } catch {
    body.fill(0); // unauthenticated plaintext: wipe it rather than leave it for the GC
    return null;
  }
  if (body.byteOffset === 0 && body.buffer.byteLength === body.length) {
    // The Buffer owns its memory (large outputs are not pooled): hand that memory over.
    return new Uint8Array(body.buffer as ArrayBuffer);
  }
  // Small Buffers are views into a shared pool (Buffer.allocUnsafe): copy into a buffer that
  // holds only this plaintext, so `pt.buffer` exposes nothing else, and wipe the pool slot.
  const out = new Uint8Array(body);
  body.fill(0);
  return out;
}
