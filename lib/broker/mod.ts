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

export { Broker } from "./_broker.ts";
export { type AdminClaimStatus } from "./_admin.ts";
export { AdminClaimFiles } from "./_admin_claim.ts";
export { keyringSealAad, SigningKeyring } from "./_keyring.ts";
export { OPERATOR_SESSION_S, type Session } from "./_sessions.ts";
export { CAP_KINDS, type CapKind } from "./_mint.ts";
export { type BrokerErrorCode, SessionInvalid } from "./_errors.ts";
export { OIDC_TOKEN_S } from "./_oidc.ts";
export { type AgentEvent, type IdentityEventFeed, subscribeAgentEvents } from "./_agent_events.ts";
