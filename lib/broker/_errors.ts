/**
 * The broker's refusals: one base class carrying the wire code, and the code lists of the login
 * flows and of cap minting. The HTTP status of each code is the routes' business
 * (`routes/errors.ts`).
 *
 * @module
 */

import { CodedError } from "../errors/mod.ts";

/** A refusal with its wire `code`. */
export class BrokerRefusal extends CodedError<BrokerErrorCode> {}

export const LOGIN_ERROR_CODES = [
  "bad_request",
  "wrong_chain",
  "challenge_unknown",
  "challenge_used",
  "challenge_expired",
  "message_invalid",
  "signature_invalid",
  "device_unknown",
  "device_revoked",
] as const;
export type LoginErrorCode = typeof LOGIN_ERROR_CODES[number];

/** A SIWE or device login refused. */
export class LoginError extends BrokerRefusal {
  declare readonly code: LoginErrorCode;
  constructor(code: LoginErrorCode, message: string) {
    super(code, message);
  }
}

export const MINT_ERROR_CODES = [
  "bad_request",
  "forbidden",
  "agent_unknown",
  "device_revoked",
  "session_stale",
  "out_of_scope",
  "read_only",
] as const;
export type MintErrorCode = typeof MINT_ERROR_CODES[number];

/** A cap mint refused by one of the checks of §7. */
export class MintError extends BrokerRefusal {
  declare readonly code: MintErrorCode;
  constructor(code: MintErrorCode, message: string) {
    super(code, message);
  }
}

export const SESSION_ERROR_CODES = ["no_session", "session_invalid", "session_expired"] as const;
export type SessionErrorCode = typeof SESSION_ERROR_CODES[number];

/** No session, a bad one, an expired one or a logged-out one. */
export class SessionInvalid extends BrokerRefusal {
  declare readonly code: SessionErrorCode;
  constructor(code: SessionErrorCode, message: string) {
    super(code, message);
  }
}

export const ADMIN_CLAIM_ERROR_CODES = [
  "bad_request",
  "claim_invalid",
  // The token is gone for good (claimed, or never made on this install).
  "claim_unavailable",
  // AGENTKEYS_ADMINS decides; a claim would contradict the operator's configuration.
  "admins_configured",
] as const;
export type AdminClaimErrorCode = typeof ADMIN_CLAIM_ERROR_CODES[number];

/** An admin claim refused (ARCHITECTURE §12). */
export class AdminClaimError extends BrokerRefusal {
  declare readonly code: AdminClaimErrorCode;
  constructor(code: AdminClaimErrorCode, message: string) {
    super(code, message);
  }
}

export const OIDC_ERROR_CODES = ["bad_request", "audience_not_allowed"] as const;
export type OidcErrorCode = typeof OIDC_ERROR_CODES[number];

/**
 * An OIDC token request refused before any identity check: a malformed audience, or one this
 * service was not configured to issue for (`AGENTKEYS_OIDC_AUDIENCES`).
 */
export class OidcError extends BrokerRefusal {
  declare readonly code: OidcErrorCode;
  constructor(code: OidcErrorCode, message: string) {
    super(code, message);
  }
}

/** Every code an error of lib/broker carries (`keyring_unreadable`: `KeyringUnreadable`). */
export const BROKER_ERROR_CODES = [
  ...new Set(
    [
      ...LOGIN_ERROR_CODES,
      ...MINT_ERROR_CODES,
      ...SESSION_ERROR_CODES,
      ...ADMIN_CLAIM_ERROR_CODES,
      ...OIDC_ERROR_CODES,
      "keyring_unreadable",
    ] as const,
  ),
];
export type BrokerErrorCode =
  | LoginErrorCode
  | MintErrorCode
  | SessionErrorCode
  | AdminClaimErrorCode
  | OidcErrorCode
  | "keyring_unreadable";
