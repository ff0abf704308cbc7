/** Refusals of the login flows, with their wire codes and statuses. @module */

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

const STATUS: Record<LoginErrorCode, 400 | 401 | 403> = {
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

export class LoginError extends Error {
  readonly status: 400 | 401 | 403;
  constructor(readonly code: LoginErrorCode, message: string) {
    super(message);
    this.name = "LoginError";
    this.status = STATUS[code];
  }
}
