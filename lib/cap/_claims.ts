/**
 * Capability claims (ARCHITECTURE §7) and their validation — pure, no I/O, so the rules can be
 * tested and fuzzed without keys or servers.
 *
 * @module
 */

import { isOmni, isValidName } from "../identity/mod.ts";

export const CAP_OPS = ["store", "fetch", "teardown"] as const;
export type CapOp = typeof CAP_OPS[number];
export const CAP_DATA_CLASSES = ["credentials", "memory", "inbound", "keyring"] as const;
export type CapDataClass = typeof CAP_DATA_CLASSES[number];

/** The JWS `typ` header every cap carries, so no other JWT we sign can pass as a cap. */
export const CAP_TYP = "agentkeys-cap+jwt";
/** Default and longest lifetime of a fetch cap, in seconds (§7). */
export const CAP_MAX_TTL_S = 300;
/** Default and longest lifetime of a store or teardown cap: a write should follow its mint. */
export const CAP_WRITE_MAX_TTL_S = 60;
/** Clock skew a verifier tolerates, in seconds. */
export const CAP_CLOCK_SKEW_S = 60;

const HEX128 = /^[0-9a-f]{32}$/;

/** What a cap authorizes. `service` names the credential; memory caps carry `namespace`. */
export interface CapClaims {
  op: CapOp;
  data_class: CapDataClass;
  service?: string;
  namespace?: string;
  /** Keyring caps: the ring (of `operator_omni`) whose documents the cap covers. */
  ring?: string;
  operator_omni: string;
  actor_omni: string;
  device_key_hash: string;
  read_only: boolean;
  /**
   * Whose session minted it. An operator may write an agent's credentials even when the agent's
   * own scope is read-only; workers re-check scope accordingly.
   */
  minted_by: "operator" | "agent";
  k3_epoch: number;
  /**
   * The `jti` of the session that minted the cap: logging that session out revokes its caps
   * at the worker too, not only at the broker.
   */
  sid: string;
  iat: number;
  exp: number;
  jti: string;
}

/** What the minter decides; the rest (`iat`, `exp`, `jti`) is filled in when minting. */
export type CapGrant = Omit<CapClaims, "iat" | "exp" | "jti">;

/**
 * The longest (and default) lifetime of a cap for `op`: 300 s for fetch, 60 s for store and
 * teardown (§7).
 *
 * ```ts
 * capMaxTtl("store"); // 60
 * ```
 */
export function capMaxTtl(op: CapOp): number {
  return op === "fetch" ? CAP_MAX_TTL_S : CAP_WRITE_MAX_TTL_S;
}

/**
 * The claim naming what a cap of `dataClass` covers: `service` (credentials), `namespace`
 * (memory), `ring` (keyring), none for inbound (a cap covers the actor's whole inbox; message
 * ids are per request).
 *
 * ```ts
 * capScopeField("inbound"); // undefined
 * ```
 */
export function capScopeField(
  dataClass: CapDataClass,
): "service" | "namespace" | "ring" | undefined {
  if (dataClass === "memory") return "namespace";
  if (dataClass === "keyring") return "ring"; // a keyring cap covers one ring (issue 14)
  if (dataClass === "inbound") return undefined;
  return "service";
}

/** A claim set that is not a well-formed cap. */
export class CapClaimsInvalid extends Error {
  readonly code = "cap_claims_invalid";
  constructor(message: string) {
    super(message);
    this.name = "CapClaimsInvalid";
  }
}

/**
 * Checks every claim's shape and the lifetime bound; throws {@linkcode CapClaimsInvalid}.
 *
 * ```ts
 * const claims = validateCapClaims(payloadFromJws);
 * ```
 */
export function validateCapClaims(c: Record<string, unknown>): CapClaims {
  const fail = (what: string) => {
    throw new CapClaimsInvalid(`cap claim ${what}`);
  };
  if (!CAP_OPS.includes(c.op as CapOp)) fail("op is not store, fetch or teardown");
  if (!CAP_DATA_CLASSES.includes(c.data_class as CapDataClass)) fail("data_class is unknown");
  const scopeField = capScopeField(c.data_class as CapDataClass);
  const scopeValue = scopeField === undefined ? undefined : c[scopeField];
  if (scopeField !== undefined && !isValidName(scopeValue)) {
    fail(`${scopeField} is missing or invalid`);
  }
  for (const f of ["operator_omni", "actor_omni"] as const) {
    if (!isOmni(c[f])) fail(`${f} is not an omni`);
  }
  if (!isOmni(c.device_key_hash)) {
    fail("device_key_hash is not a 32-byte hex hash");
  }
  if (typeof c.read_only !== "boolean") fail("read_only is not a boolean");
  if (c.minted_by !== "operator" && c.minted_by !== "agent") fail("minted_by is invalid");
  if (!Number.isSafeInteger(c.k3_epoch) || (c.k3_epoch as number) < 1) fail("k3_epoch is invalid");
  if (typeof c.sid !== "string" || !HEX128.test(c.sid)) fail("sid is not 128 bits of hex");
  for (const f of ["iat", "exp"] as const) {
    if (!Number.isSafeInteger(c[f])) fail(`${f} is not a timestamp`);
  }
  // Checked by every verifier too, so a minter that signs longer caps cannot stretch them.
  const max = capMaxTtl(c.op as CapOp);
  const lifetime = (c.exp as number) - (c.iat as number);
  if (lifetime <= 0 || lifetime > max) fail(`lifetime must be 1..${max} s for ${c.op}`);
  if (typeof c.jti !== "string" || !HEX128.test(c.jti)) {
    fail("jti is not 128 bits of hex");
  }
  return {
    op: c.op as CapOp,
    data_class: c.data_class as CapDataClass,
    ...(scopeField === undefined ? {} : { [scopeField]: scopeValue }),
    operator_omni: c.operator_omni as string,
    actor_omni: c.actor_omni as string,
    device_key_hash: c.device_key_hash as string,
    read_only: c.read_only as boolean,
    minted_by: c.minted_by as "operator" | "agent",
    k3_epoch: c.k3_epoch as number,
    sid: c.sid as string,
    iat: c.iat as number,
    exp: c.exp as number,
    jti: c.jti as string,
  };
}
