/**
 * Capability tokens: the claims (§7), minting (broker) and verification (workers).
 *
 * ```ts
 * import { mintCap, verifyCap, capKeySet } from "./lib/cap/mod.ts";
 * const { cap } = await mintCap(grant, k1);
 * const claims = await verifyCap(cap, capKeySet({ keys: [k1PublicJwk] }));
 * ```
 *
 * @module
 */

export {
  type CapClaims,
  type CapDataClass,
  capMaxTtl,
  type CapOp,
  capScopeField,
} from "./_claims.ts";
export {
  CAP_ERROR_CODES,
  CapExpired,
  type CapKeySet,
  capKeySet,
  mintCap,
  verifyCap,
} from "./_token.ts";
export { VerifiedTokenCache } from "./_verified_cache.ts";
export { jwkAlg, type JwsAlg, type JwsSigner, jwsSigner, signCompact } from "./_jws.ts";
