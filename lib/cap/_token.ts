/**
 * Minting caps as compact EdDSA JWS (K1 is Ed25519, see ./jws.ts) and verifying them with
 * `jose`. The broker mints; workers verify against the broker's public keys.
 *
 * @module
 */

import {
  createLocalJWKSet,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { type JwsSigner, signCompact } from "./_jws.ts";
import {
  CAP_CLOCK_SKEW_S,
  CAP_TYP,
  type CapClaims,
  CapClaimsInvalid,
  type CapGrant,
  capMaxTtl,
  validateCapClaims,
} from "./_claims.ts";
import type { VerifiedTokenCache } from "./_verified_cache.ts";

/** A signing key of the broker (K1); caps are EdDSA only (see {@linkcode verifyCap}). */
export type CapSigningKey = JwsSigner;

/**
 * The only algorithm a cap may carry. A P-256 key, even one in the key set (a K1 key from
 * before Ed25519), never makes a cap: caps live minutes, so nothing needs the old algorithm.
 */
export const CAP_ALG = "EdDSA";

/** Every code an error of lib/cap carries. */
export const CAP_ERROR_CODES = ["cap_invalid", "cap_expired", "cap_claims_invalid"] as const;

/** A cap that failed verification for any reason other than expiry. */
export class CapInvalid extends Error {
  readonly code = "cap_invalid";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CapInvalid";
  }
}

/** A cap past its `exp` (beyond the allowed clock skew). */
export class CapExpired extends Error {
  readonly code = "cap_expired";
  constructor() {
    super("the capability token has expired");
    this.name = "CapExpired";
  }
}

/**
 * Signs a cap for `grant`, valid `ttlSeconds` (default and maximum: 300 s for fetch, 60 s for
 * store and teardown).
 *
 * ```ts
 * const { cap, claims } = await mintCap(grant, jwsSigner(privateEd25519Jwk, kid));
 * ```
 */
export async function mintCap(
  grant: CapGrant,
  key: CapSigningKey,
  options: { ttlSeconds?: number; now?: Date; cache?: VerifiedTokenCache<CapClaims> } = {},
): Promise<{ cap: string; claims: CapClaims }> {
  const max = capMaxTtl(grant.op);
  const ttl = options.ttlSeconds ?? max;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > max) {
    throw new CapClaimsInvalid(`ttl_seconds must be 1..${max} for ${grant.op}`);
  }
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const jti = crypto.getRandomValues(new Uint8Array(16)).toHex();
  const claims = validateCapClaims({ ...grant, iat, exp: iat + ttl, jti });
  if (key.alg !== CAP_ALG) throw new TypeError(`caps are signed with ${CAP_ALG}, not ${key.alg}`);
  const cap = await signCompact({ typ: CAP_TYP }, { ...claims }, key);
  // A co-located worker need not re-verify what this process just signed.
  options.cache?.set(cap, claims);
  return { cap, claims };
}

/** Resolves a cap's `kid` to a public key: the broker's JWKS (current and previous keys). */
export type CapKeySet = JWTVerifyGetKey;

/** Builds a {@linkcode CapKeySet} from a JWKS document. */
export function capKeySet(jwks: JSONWebKeySet): CapKeySet {
  return createLocalJWKSet(jwks);
}

/**
 * Verifies signature (EdDSA only, so `alg: none`, HS256-with-the-public-key and ES256 are
 * refused, whatever key the set holds), `typ`, expiry with 60 s of skew, claim shapes and the lifetime bound of the cap's op. Throws {@linkcode CapExpired} or
 * {@linkcode CapInvalid}.
 *
 * ```ts
 * const claims = await verifyCap(token, capKeySet(jwks));
 * ```
 */
export async function verifyCap(
  token: string,
  keys: CapKeySet,
  options: { now?: Date; cache?: VerifiedTokenCache<CapClaims> } = {},
): Promise<CapClaims> {
  const cached = options.cache?.get(token);
  if (cached) {
    // The signature was checked (or made) by this process; expiry is checked every time.
    const nowS = Math.floor((options.now ?? new Date()).getTime() / 1000);
    if (nowS - CAP_CLOCK_SKEW_S >= cached.exp) throw new CapExpired();
    return cached;
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: [CAP_ALG],
      typ: CAP_TYP,
      clockTolerance: CAP_CLOCK_SKEW_S,
      currentDate: options.now,
      requiredClaims: ["exp", "iat", "jti"],
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new CapExpired();
    throw new CapInvalid(`the capability token is not valid: ${describe(err)}`, { cause: err });
  }
  let claims: CapClaims;
  try {
    claims = validateCapClaims(payload as Record<string, unknown>);
  } catch (err) {
    throw new CapInvalid((err as Error).message, { cause: err });
  }
  options.cache?.set(token, claims);
  return claims;
}

function describe(err: unknown): string {
  if (err instanceof joseErrors.JOSEError) return err.code.toLowerCase();
  return "malformed";
}
