/**
 * Key-encryption keys (ARCHITECTURE.md §3):
 * `KEK(epoch, class, actor) = HKDF-SHA256(ikm = K3[epoch], salt = "agentkeys.kek.v2",
 * info = "agentkeys|" ‖ class ‖ "|" ‖ actorHex, L = 32)`.
 *
 * ```ts
 * import { deriveKek } from "./mod.ts";
 * const kek = deriveKek(k3ForEpoch, "credentials", actorHex); // cache per (epoch, class, actor)
 * ```
 *
 * HKDF runs through `node:crypto` `hkdfSync`: synchronous and, in Deno 2.9.6, ~100,000–150,000
 * derivations/s on one core, against ~30,000–45,000/s for WebCrypto `deriveBits` awaited one at
 * a time (bench/envelope.ts). Callers should still cache a {@linkcode Kek} for the life of a
 * request or job rather than derive per blob.
 *
 * @module
 */

import { hkdfSync } from "node:crypto";
import { AES_GCM_KEY_BYTES } from "./_aead.ts";
import { EnvelopeEpochDestroyed } from "./_errors.ts";
import { isOmniHex } from "../identity/mod.ts";

/**
 * The data classes a blob can belong to; each gets its own KEK. `keyring`: end-to-end encrypted
 * ring records, member keys and documents (§15), sealed like the rest.
 */
export type DataClass = "credentials" | "memory" | "inbound" | "keyring";

/** Every {@linkcode DataClass}, in a fixed order. */
export const DATA_CLASSES: readonly DataClass[] = Object.freeze([
  "credentials",
  "memory",
  "inbound",
  "keyring",
]);

/** HKDF salt fixed by §3; changing it orphans every stored blob. */
export const KEK_SALT = "agentkeys.kek.v2";
/** Prefix of the HKDF info string (§3). */
export const KEK_INFO_PREFIX = "agentkeys|";

/** K3 epoch keys are 32 random bytes (§3). */
export const K3_BYTES = 32;

const utf8 = new TextEncoder();
const SALT_BYTES = utf8.encode(KEK_SALT);

/** Throws a TypeError unless `dataClass` is one of {@linkcode DATA_CLASSES}. */
export function assertDataClass(dataClass: unknown): asserts dataClass is DataClass {
  if (!(DATA_CLASSES as readonly unknown[]).includes(dataClass)) {
    throw new TypeError(`dataClass must be one of ${DATA_CLASSES.join(", ")}`);
  }
}

/**
 * Throws a TypeError unless `actorHex` is exactly 64 lowercase hex digits without `0x`. One
 * spelling per actor matters: "AB…" and "ab…" would otherwise derive different KEKs.
 */
export function assertActorHex(actorHex: unknown): asserts actorHex is string {
  if (!isOmniHex(actorHex)) {
    throw new TypeError("actorHex must be 64 lowercase hex digits without 0x");
  }
}

/**
 * HKDF-SHA256 (RFC 5869) extract-then-expand. Exported for the RFC 5869 vector tests; other
 * code uses {@linkcode deriveKek}.
 *
 * ```ts
 * const okm = hkdfSha256(ikm, salt, info, 42);
 * ```
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

// Module-private hooks, set in Kek's static block: envelope.ts reads the key bytes, and only
// deriveKek() creates a Kek, without either being reachable through the public class.
let kekBytes: (kek: Kek) => Uint8Array;
let newKek: (key: Uint8Array, dataClass: DataClass, actorHex: string) => Kek;
const CONSTRUCT = Symbol("Kek.construct");

/**
 * An opaque per-(epoch, class, actor) key-encryption key (a Tink-style handle): there is no
 * accessor for the key bytes, and printing or serializing it shows only its binding.
 * Obtain one with {@linkcode deriveKek}.
 */
export class Kek {
  readonly #key: Uint8Array;
  /** Set by {@linkcode wipe}: the destroyed epoch this KEK was derived from. */
  #wipedFor?: number;
  /** The data class this KEK was derived for. */
  readonly dataClass: DataClass;
  /** The actor (64 lowercase hex digits) this KEK was derived for. */
  readonly actorHex: string;

  static {
    kekBytes = (kek) => {
      if (kek.#wipedFor !== undefined) throw new EnvelopeEpochDestroyed(kek.#wipedFor);
      return kek.#key;
    };
    newKek = (key, dataClass, actorHex) => new Kek(CONSTRUCT, key, dataClass, actorHex);
  }

  /** Not callable from outside (TypeScript `private` is compile-time only, hence the token). */
  private constructor(token: symbol, key: Uint8Array, dataClass: DataClass, actorHex: string) {
    if (token !== CONSTRUCT) throw new TypeError("use deriveKek() to obtain a Kek");
    this.#key = key;
    this.dataClass = dataClass;
    this.actorHex = actorHex;
    Object.freeze(this);
  }

  /**
   * Zeroes the key bytes because `epoch`, the K3 epoch this KEK was derived from, was
   * destroyed: a memory dump taken afterwards holds nothing of it. Any later use throws
   * `EnvelopeEpochDestroyed(epoch)` instead of encrypting under an all-zero key.
   */
  wipe(epoch: number): void {
    this.#wipedFor ??= epoch;
    this.#key.fill(0);
  }

  /** Never the key: only the binding, so a KEK that reaches a log leaks nothing. */
  toString(): string {
    return `Kek(${this.dataClass}, ${this.actorHex.slice(0, 8)}…)`;
  }

  /** Serializing a KEK is a bug; JSON gets the same redacted form as toString(). */
  toJSON(): string {
    return this.toString();
  }

  /** Deno's console.log/inspect: redacted. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

/**
 * Derives the KEK for one (K3 epoch key, data class, actor).
 * Throws a TypeError when `k3` is not 32 bytes, `dataClass` is unknown or `actorHex` is not
 * 64 lowercase hex digits.
 *
 * ```ts
 * const kek = deriveKek(k3, "memory", "ab".repeat(32));
 * ```
 */
export function deriveKek(k3: Uint8Array, dataClass: DataClass, actorHex: string): Kek {
  if (!(k3 instanceof Uint8Array) || k3.length !== K3_BYTES) {
    throw new TypeError(`k3 must be a ${K3_BYTES}-byte Uint8Array`);
  }
  assertDataClass(dataClass);
  assertActorHex(actorHex);
  const key = hkdfSha256(
    k3,
    SALT_BYTES,
    utf8.encode(KEK_INFO_PREFIX + dataClass + "|" + actorHex),
    AES_GCM_KEY_BYTES,
  );
  return newKek(key, dataClass, actorHex);
}

/** @internal The KEK's key bytes, for envelope.ts only. Not exported from mod.ts. */
export function kekKeyBytes(kek: Kek): Uint8Array {
  if (!(kek instanceof Kek)) throw new TypeError("kek must be a Kek from deriveKek()");
  return kekBytes(kek);
}
