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

export { Broker, type BrokerOptions, type LoginResult } from "./_broker.ts";
export { type AdminClaimStatus, AdminPolicy } from "./_admin.ts";
export {
  ADMIN_CLAIM_MARKER_FILE,
  ADMIN_CLAIM_TOKEN_FILE,
  AdminClaimFiles,
} from "./_admin_claim.ts";
export { keyringSealAad, KeyringUnreadable, SigningKeyring } from "./_keyring.ts";
export { OPERATOR_SESSION_S, type Session, SESSION_TYP } from "./_sessions.ts";
export { CAP_KINDS, type CapKind } from "./_mint.ts";
export {
  AdminClaimError,
  BROKER_ERROR_CODES,
  type BrokerErrorCode,
  LoginError,
  MintError,
  OidcError,
  SessionInvalid,
} from "./_errors.ts";
export { OIDC_TOKEN_S } from "./_oidc.ts";
export {
  type AgentEvent,
  agentEventFor,
  type IdentityEvent,
  type IdentityEventFeed,
  subscribeAgentEvents,
} from "./_agent_events.ts";
export { type DeviceRecord, type Hex, type IdentityReader, type ScopeRecord } from "./_identity.ts";
