/**
 * The one mapping from errors to `{"error", "message"}` responses with their status. Errors in
 * `lib/` carry only a stable snake_case `code` (each component exports its list); HTTP statuses
 * exist here alone, in {@linkcode ERROR_ANSWERS}, as hono keeps `HTTPException` at the edge.
 *
 * @module
 */

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";
import type { WORKER_ERROR_CODES } from "../lib/worker/mod.ts";
import type { BrokerErrorCode } from "../lib/broker/mod.ts";
import type { ChainErrorCode } from "../lib/chain/mod.ts";
import type { CAP_ERROR_CODES } from "../lib/cap/mod.ts";
import type { EnvelopeErrorCode } from "../lib/crypto/mod.ts";
import type { IDENTITY_ERROR_CODES } from "../lib/identity/mod.ts";
import { type STATE_ERROR_CODES, StateBusy } from "../lib/state/mod.ts";
import { JobRunning, REENCRYPT_ERROR_CODES, ReencryptError } from "../lib/reencrypt/mod.ts";
import {
  EPOCH_ERROR_CODES,
  EpochError,
  EpochInUse,
  EpochNotRetiring,
  EpochTagInUse,
  type SignerErrorCode,
} from "../lib/epochs/mod.ts";
import type { StoreErrorCode } from "../lib/store/mod.ts";
import type { KeyringErrorCode } from "../lib/keyrings/mod.ts";
import { type RATELIMIT_ERROR_CODES, RateLimited } from "../lib/ratelimit/mod.ts";

/** Every code an error of a `lib/` component carries. */
export type LibErrorCode =
  | typeof WORKER_ERROR_CODES[number]
  | BrokerErrorCode
  | StoreErrorCode
  | SignerErrorCode
  | EnvelopeErrorCode
  | typeof CAP_ERROR_CODES[number]
  | ChainErrorCode
  | typeof STATE_ERROR_CODES[number]
  | typeof RATELIMIT_ERROR_CODES[number]
  | typeof IDENTITY_ERROR_CODES[number]
  | typeof REENCRYPT_ERROR_CODES[number]
  | typeof EPOCH_ERROR_CODES[number]
  | KeyringErrorCode
  // Startup errors of lib/datadir, lib/config: never a request's, but coded like the rest.
  | "no_keystore"
  | "config_invalid";

/** A fixed body, sent instead of the error's own code and message. */
export interface FixedAnswer {
  status: ContentfulStatusCode;
  error: string;
  message: string;
}

/**
 * A status (the error's code and message go out as they are), or a {@linkcode FixedAnswer} for
 * codes whose message may name internals (paths, endpoints, keys): that detail stays in the log.
 */
export type ErrorAnswer = ContentfulStatusCode | FixedAnswer;

/** A server fault: the client learns nothing but that it happened. */
const INTERNAL: FixedAnswer = {
  status: 500,
  error: "internal_error",
  message: "the server failed to handle this request",
};
// A census or job listing could not read the store; nothing was changed.
const STORE_DOWN: FixedAnswer = {
  status: 503,
  error: "store_unavailable",
  message: "the blob store cannot be reached; try again",
};
// Identity cannot be checked without the chain: refuse rather than guess.
const CHAIN_DOWN: FixedAnswer = {
  status: 503,
  error: "chain_unavailable",
  message: "the identity chain cannot be reached; try again",
};

/** How every code of `lib/` answers over HTTP. A code shared by components answers alike. */
export const ERROR_ANSWERS: Readonly<Record<LibErrorCode, ErrorAnswer>> = {
  // 400: malformed input.
  bad_request: 400,
  wrong_chain: 400,
  audience_not_allowed: 400,
  invalid_name: 400,
  invalid_identifier: 400,
  // 401: no, bad or expired credentials (session, cap, login proof).
  no_session: 401,
  session_invalid: 401,
  session_expired: 401,
  session_stale: 401,
  challenge_unknown: 401,
  challenge_used: 401,
  challenge_expired: 401,
  message_invalid: 401,
  signature_invalid: 401,
  cap_invalid: 401,
  cap_expired: 401,
  cap_replayed: 401,
  // The minting session was logged out: a new cap needs a new login, not just a new mint.
  session_revoked: 401,
  // 403: authenticated, not allowed.
  forbidden: 403,
  agent_unknown: 403,
  device_unknown: 403,
  device_revoked: 403,
  claim_invalid: 403,
  wrong_op: 403,
  wrong_data_class: 403,
  out_of_scope: 403,
  read_only: 403,
  other_operator: 403,
  // 404, 409, 410, 413, 429.
  not_found: 404,
  admins_configured: 409,
  // The agent is still active on chain: revoke first (a state conflict, not a permission).
  agent_active: 409,
  epoch_tag_collision: 409,
  epoch_state: 409,
  // A rollback or tamper in the blob store: the request was fine, the stored bytes are not.
  integrity_mismatch: 409,
  // Writes wait for an admin after the state store was found rolled back (lib/integrity).
  integrity_blocked: 409,
  // Gone for good: the key that could read it was destroyed on purpose.
  epoch_destroyed: 410,
  // The admin claim token was claimed, or never made on this install.
  claim_unavailable: 410,
  too_large: 413,
  rate_limited: 429,
  // 5xx. The stored bytes are damaged: the request was fine, the server cannot serve it.
  envelope_corrupt: 500,
  store_unavailable: STORE_DOWN,
  credentials_expired: STORE_DOWN,
  chain_unavailable: CHAIN_DOWN,
  // Server faults that no request should be able to cause: logged, answered without detail.
  invalid_key: INTERNAL,
  precondition_failed: INTERNAL,
  store_error: INTERNAL,
  too_short: INTERNAL,
  unknown_epoch: INTERNAL,
  auth_failed: INTERNAL,
  cap_claims_invalid: INTERNAL,
  keystore_unseal_failed: INTERNAL,
  keystore_corrupt: INTERNAL,
  seal_key_missing: INTERNAL,
  seal_key_external: INTERNAL,
  seal_key_invalid: INTERNAL,
  sealed_file_corrupt: INTERNAL,
  keyring_unreadable: INTERNAL,
  chain_revert: INTERNAL,
  chain_failed: INTERNAL,
  no_governance_key: INTERNAL,
  chain_config: INTERNAL,
  embedded_chain: INTERNAL,
  anvil_install_failed: INTERNAL,
  anvil_start_failed: INTERNAL,
  state_contention: INTERNAL,
  // Another process on the data directory held the KV lock through every retry (lib/state
  // _busy.ts): transient, sent with Retry-After.
  state_busy: 503,
  no_keystore: INTERNAL,
  config_invalid: INTERNAL,
  // lib/reencrypt and lib/epochs (`not_found` and `session_expired` are above). Their bodies
  // also carry the details a client acts on (reencryptError below).
  invalid_params: 400,
  job_running: 409,
  epoch_not_found: 404,
  epoch_active: 409,
  epoch_already_destroyed: 409,
  epoch_in_use: 409,
  epoch_tag_in_use: 409,
  // Keyrings (issue 14).
  record_invalid: 400,
  document_invalid: 400,
  member_key_invalid: 400,
  not_a_member: 403,
  keyring_not_found: 404,
  member_key_not_found: 404,
  rotation_unknown: 404,
  keyring_exists: 409,
  keyring_conflict: 409,
  record_rollback: 409,
  rotation_stale: 409,
};

/** Seconds a client waits after `state_busy`: the other process's burst is usually over by then. */
const STATE_BUSY_RETRY_AFTER_S = 2;

/** An error the HTTP layer raises itself (bad JSON, missing header). */
export class ApiError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** Writes `{error, message}` with the status that fits the error. */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof ApiError) {
    return c.json({ error: err.code, message: err.message }, err.status);
  }
  if (err instanceof ReencryptError || err instanceof EpochError) return reencryptError(c, err);
  const code = libCodeOf(err);
  if (code !== undefined) {
    const answer = ERROR_ANSWERS[code];
    if (typeof answer !== "number") return fixed(c, answer, err);
    const headers: Record<string, string> = err instanceof RateLimited
      ? { "retry-after": String(err.retryAfterS) }
      : err instanceof StateBusy
      ? { "retry-after": String(STATE_BUSY_RETRY_AFTER_S) }
      : {};
    return c.json({ error: code, message: (err as Error).message }, answer, headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413 ? "too_large" : status === 404 ? "not_found" : "bad_request";
    return c.json({ error: code, message: err.message || "request refused" }, status);
  }
  return fixed(c, INTERNAL, err);
}

/** The code of an error from `lib/`, or `undefined` for anything else. */
function libCodeOf(err: unknown): LibErrorCode | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && Object.hasOwn(ERROR_ANSWERS, code)
    ? code as LibErrorCode
    : undefined;
}

/** Sends `answer`; a server fault's detail goes to the log, never to the client. */
function fixed(c: Context, answer: FixedAnswer, err: unknown): Response {
  if (answer === INTERNAL) console.error("unhandled error:", err);
  return c.json({ error: answer.error, message: answer.message }, answer.status);
}

/**
 * Epoch and job refusals (lib/epochs, lib/reencrypt): the status from {@linkcode ERROR_ANSWERS},
 * the body with the details a client needs to act.
 */
function reencryptError(c: Context, err: ReencryptError | EpochError): Response {
  const answer = Object.hasOwn(ERROR_ANSWERS, err.code)
    ? ERROR_ANSWERS[err.code as LibErrorCode]
    : INTERNAL;
  if (typeof answer !== "number") return fixed(c, answer, err);
  return c.json({ error: err.code, message: err.message, ...refusalDetails(err) }, answer);
}

function refusalDetails(err: ReencryptError | EpochError): Record<string, unknown> {
  if (err instanceof JobRunning) return { job_id: err.jobId };
  if (err instanceof EpochNotRetiring) return { state: err.state };
  if (err instanceof EpochInUse) {
    return {
      epoch: err.epoch,
      reason: err.reason,
      count: err.count,
      census: err.census,
      last_write_at: err.lastWriteAt,
    };
  }
  if (err instanceof EpochTagInUse) {
    return {
      epoch: err.epoch,
      destroyed_epoch: err.destroyedEpoch,
      reason: err.reason,
      count: err.count,
      census_taken_at: err.censusTakenAt,
    };
  }
  return {};
}
