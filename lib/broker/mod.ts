/**
 * The broker: the capability-mint authority, with zero decrypt authority. Logins (SIWE for
 * operators, device keys for agents), sessions, cap minting after the chain checks of §7, and
 * the OIDC issuer for S3 STS.
 *
 * ```ts
 * import { Broker, SigningKeyring } from "./lib/broker/mod.ts";
 * const broker = new Broker({ publicUrl, identity, k1, k2, state, admins, activeEpoch });
 * ```
 *
 * @module
 */

export { Broker, type BrokerOptions, type LoginResult } from "./broker.ts";
export { type AdminClaimStatus, AdminPolicy } from "./admin.ts";
export {
  ADMIN_CLAIM_MARKER_FILE,
  ADMIN_CLAIM_TOKEN_FILE,
  AdminClaimFiles,
  type AdminClaimFileState,
  type AdminClaimMarker,
} from "./admin_claim.ts";
export {
  type KeyringOptions,
  keyringSealAad,
  type KeyringSealer,
  KeyringUnreadable,
  type SigningKey,
  SigningKeyring,
} from "./keyring.ts";
export { DEVICE_SESSION_S, OPERATOR_SESSION_S, type Session, SESSION_TYP } from "./sessions.ts";
export { CAP_KINDS, type CapKind, NO_DEVICE } from "./mint.ts";
export {
  ADMIN_CLAIM_ERROR_CODES,
  AdminClaimError,
  type AdminClaimErrorCode,
  BROKER_ERROR_CODES,
  type BrokerErrorCode,
  BrokerRefusal,
  LOGIN_ERROR_CODES,
  LoginError,
  type LoginErrorCode,
  MINT_ERROR_CODES,
  MintError,
  type MintErrorCode,
  OIDC_ERROR_CODES,
  OidcError,
  type OidcErrorCode,
  SESSION_ERROR_CODES,
  type SessionErrorCode,
  SessionInvalid,
} from "./errors.ts";
export { DEFAULT_AUDIENCE, OIDC_TOKEN_S, type OidcIssuerOptions } from "./oidc.ts";
export {
  type DeviceRecord,
  findAgentDevice,
  type Hex,
  type IdentityReader,
  type ScopeRecord,
} from "./identity.ts";
