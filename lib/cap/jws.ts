/**
 * ES256 compact JWS signing with `@noble/curves`. Measured on this project's 2-core machines,
 * WebCrypto's ECDSA P-256 signs about 1,400 times a second per core and noble's about 3,400:
 * signing is on every cap mint and every login, so the hot path signs here. Verification stays
 * with `jose` (WebCrypto verifies faster than noble), so every token this module makes is
 * checked by an independent implementation in the tests.
 *
 * @module
 */

import { p256 } from "@noble/curves/nist.js";
import type { JWK } from "jose";

/** Signs JWS signing inputs with one key; no way to read the key back out. */
export interface JwsSigner {
  readonly kid: string;
  /** `ECDSA-P256-SHA256(data)` as the 64-byte `r ‖ s` JWS uses. */
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * A signer for a private P-256 JWK (as `exportJWK` writes it).
 *
 * ```ts
 * const signer = es256Signer(privateJwk, "k1-2026");
 * const jws = await signCompact({ alg: "ES256", typ: "JWT", kid: signer.kid }, { sub: "x" }, signer);
 * ```
 */
export function es256Signer(jwk: JWK, kid: string): JwsSigner {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string") {
    throw new TypeError("an ES256 signer needs a private P-256 JWK");
  }
  const d = Uint8Array.fromBase64(jwk.d, { alphabet: "base64url" });
  return {
    kid,
    // prehash: noble hashes with SHA-256 as ES256 requires; compact = r ‖ s (JWS form).
    sign: (data) => p256.sign(data, d, { prehash: true, format: "compact" }),
  };
}

const encoder = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** `base64url(header).base64url(payload).base64url(signature)` */
export async function signCompact(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: JwsSigner,
): Promise<string> {
  const input = `${b64url(encoder.encode(JSON.stringify(header)))}.${
    b64url(encoder.encode(JSON.stringify(payload)))
  }`;
  return `${input}.${b64url(await signer.sign(encoder.encode(input)))}`;
}
