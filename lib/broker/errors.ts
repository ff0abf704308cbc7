/**
 * The broker's refusals: one base class carrying the wire code and the HTTP status, and the code
 * tables of the login flows and of cap minting. Routes map every {@linkcode BrokerRefusal} the
 * same way.
 *
 * @module
 */

/** The statuses a broker refusal answers with. */
export type RefusalStatus = 400 | 401 | 403 | 409 | 410;

/** A refusal with its wire `code` and HTTP `status`. */
export class BrokerRefusal extends Error {
  constructor(readonly code: string, readonly status: RefusalStatus, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export type LoginErrorCode =
  | "bad_request"
  | "wrong_chain"
  | "challenge_unknown"
  | "challenge_used"
  | "challenge_expired"
  | "message_invalid"
  | "signature_invalid"
  | "device_unknown"
  | "device_revoked";

const LOGIN_STATUS: Record<LoginErrorCode, RefusalStatus> = {
  bad_request: 400,
  wrong_chain: 400,
  challenge_unknown: 401,
  challenge_used: 401,
  challenge_expired: 401,
  message_invalid: 401,
  signature_invalid: 401,
  device_unknown: 403,
  device_revoked: 403,
};

/** A SIWE or device login refused. */
export class LoginError extends BrokerRefusal {
  declare readonly code: LoginErrorCode;
  constructor(code: LoginErrorCode, message: string) {
    super(code, LOGIN_STATUS[code], message);
  }
}

export type MintErrorCode =
  | "bad_request"
  | "forbidden"
  | "agent_unknown"
  | "device_revoked"
  | "session_stale"
  | "out_of_scope"
  | "read_only";

const MINT_STATUS: Record<MintErrorCode, RefusalStatus> = {
  bad_request: 400,
  forbidden: 403,
  agent_unknown: 403,
  device_revoked: 403,
  session_stale: 401,
  out_of_scope: 403,
  read_only: 403,
};

/** A cap mint refused by one of the checks of §7. */
export class MintError extends BrokerRefusal {
  declare readonly code: MintErrorCode;
  constructor(code: MintErrorCode, message: string) {
    super(code, MINT_STATUS[code], message);
  }
}

/** No session, a bad one, an expired one or a logged-out one; always HTTP 401. */
export class SessionInvalid extends BrokerRefusal {
  declare readonly code: "no_session" | "session_invalid" | "session_expired";
  constructor(code: "no_session" | "session_invalid" | "session_expired", message: string) {
    super(code, 401, message);
  }
}

export type AdminClaimErrorCode =
  | "bad_request"
  | "claim_invalid"
  | "claim_unavailable"
  | "admins_configured";

const ADMIN_CLAIM_STATUS: Record<AdminClaimErrorCode, RefusalStatus> = {
  bad_request: 400,
  claim_invalid: 403,
  // The token is gone for good (claimed, or never made on this install).
  claim_unavailable: 410,
  // AGENTKEYS_ADMINS decides; a claim would contradict the operator's configuration.
  admins_configured: 409,
};

/** An admin claim refused (ARCHITECTURE §12). */
export class AdminClaimError extends BrokerRefusal {
  declare readonly code: AdminClaimErrorCode;
  constructor(code: AdminClaimErrorCode, message: string) {
    super(code, ADMIN_CLAIM_STATUS[code], message);
  }
}

export type OidcErrorCode = "bad_request" | "audience_not_allowed";

/**
 * An OIDC token request refused before any identity check: a malformed audience, or one this
 * service was not configured to issue for (`AGENTKEYS_OIDC_AUDIENCES`). Both 400.
 */
export class OidcError extends BrokerRefusal {
  declare readonly code: OidcErrorCode;
  constructor(code: OidcErrorCode, message: string) {
    super(code, 400, message);
  }
}
