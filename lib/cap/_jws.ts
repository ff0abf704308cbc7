/**
 * Compact JWS signing through `node:crypto`. K1 (caps and sessions, verified only by this
 * service) is Ed25519, JWS `alg: EdDSA` (RFC 8037): on this project's 2-core machines
 * `node:crypto` signs about 52,000 Ed25519 signatures a second against 1,656 P-256 ones (3,536
 * with `@noble/curves`, 1,520 with WebCrypto), and every cap mint and login signs. P-256 (ES256)
 * stays for K2, whose OIDC tokens AWS STS and Ceph RGW must accept. Verification stays with
 * `jose`, so every token made here is checked by an independent implementation in the tests.
 *
 * @module
 */

import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import type { JWK } from "jose";

/** The JWS algorithms the broker's keys use: EdDSA (K1), ES256 (K2 and K1 keys from before). */
export type JwsAlg = "EdDSA" | "ES256";

/** Signs JWS signing inputs with one key; no way to read the key back out. */
export interface JwsSigner {
  readonly kid: string;
  /** The header's `alg`, fixed by the key: a caller cannot pair a key with another algorithm. */
  readonly alg: JwsAlg;
  /**
   * The JWS signature of `data` (Ed25519: 64 bytes; ES256: the 64-byte `r ‖ s`). May be async
   * so that a key held by a KMS or TEE fits behind the same interface.
   */
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** The algorithm a JWK's key type fixes, or `undefined` for a key the broker does not use. */
export function jwkAlg(jwk: JWK): JwsAlg | undefined {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  return undefined;
}

/**
 * A signer for a private Ed25519 or P-256 JWK (as `exportJWK` writes it); the key fixes `alg`.
 *
 * ```ts
 * const signer = jwsSigner(privateEd25519Jwk, "k1-2026"); // signer.alg === "EdDSA"
 * const jws = await signCompact({ typ: "JWT" }, { sub: "x" }, signer);
 * ```
 */
export function jwsSigner(jwk: JWK, kid: string): JwsSigner {
  const alg = jwkAlg(jwk);
  if (!alg || typeof jwk.d !== "string") {
    throw new TypeError("a JWS signer needs a private Ed25519 or P-256 JWK");
  }
  const key: KeyObject = createPrivateKey({ key: jwk as never, format: "jwk" });
  return alg === "EdDSA"
    ? { kid, alg, sign: (data) => sign(null, data, key) }
    // JWS wants r ‖ s (IEEE P1363), not node's default DER.
    : { kid, alg, sign: (data) => sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }) };
}

const encoder = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * `base64url(header).base64url(payload).base64url(signature)`, with `alg` and `kid` taken from
 * the signer (they override any in `header`).
 */
export async function signCompact(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: JwsSigner,
): Promise<string> {
  const full = { ...header, alg: signer.alg, kid: signer.kid };
  const input = `${b64url(encoder.encode(JSON.stringify(full)))}.${
    b64url(encoder.encode(JSON.stringify(payload)))
  }`;
  return `${input}.${b64url(await signer.sign(encoder.encode(input)))}`;
}
