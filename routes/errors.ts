/**
 * The one mapping from typed errors to `{"error", "message"}` responses with their status.
 *
 * @module
 */

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { HTTPException } from "hono/http-exception";
import { WorkerError, type WorkerErrorCode } from "../lib/worker/mod.ts";
import { BrokerRefusal } from "../lib/broker/mod.ts";
import { ChainUnavailableError } from "../lib/chain/mod.ts";
import {
  EpochInUse,
  EpochNotFound,
  EpochNotRetiring,
  EpochTagInUse,
  InvalidReencryptParams,
  JobNotFound,
  JobRunning,
  ReencryptError,
  SessionExpired,
} from "../lib/reencrypt/mod.ts";
import { EpochStateError, EpochTagCollision } from "../lib/signer/mod.ts";
import { StoreCredentialsExpired, StoreUnavailable } from "../lib/store/mod.ts";
import { RateLimited } from "../lib/ratelimit/mod.ts";

const WORKER_STATUS: Record<WorkerErrorCode, ContentfulStatusCode> = {
  bad_request: 400,
  cap_invalid: 401,
  cap_expired: 401,
  cap_replayed: 401,
  // The minting session was logged out: a new cap needs a new login, not just a new mint.
  session_revoked: 401,
  wrong_op: 403,
  wrong_data_class: 403,
  out_of_scope: 403,
  read_only: 403,
  not_found: 404,
  too_large: 413,
  // The stored bytes are damaged: the request was fine, the server cannot serve it.
  envelope_corrupt: 500,
  // Gone for good: the key that could read it was destroyed on purpose.
  epoch_destroyed: 410,
  store_unavailable: 503,
  other_operator: 403,
  // The agent is still active on chain: revoke first (a state conflict, not a permission).
  agent_active: 409,
};

/** An error the HTTP layer raises itself (bad JSON, missing header). */
export class ApiError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** Writes `{error, message}` with the status that fits the error. */
export function errorResponse(c: Context, err: unknown): Response {
  if (err instanceof WorkerError) {
    return c.json({ error: err.code, message: err.message }, WORKER_STATUS[err.code]);
  }
  if (err instanceof ApiError) {
    return c.json({ error: err.code, message: err.message }, err.status);
  }
  if (err instanceof RateLimited) {
    return c.json({ error: err.code, message: err.message }, 429, {
      "retry-after": String(err.retryAfterS),
    });
  }
  if (err instanceof BrokerRefusal) {
    return c.json({ error: err.code, message: err.message }, err.status);
  }
  if (err instanceof ReencryptError) return reencryptError(c, err);
  if (err instanceof EpochTagCollision || err instanceof EpochStateError) {
    return c.json({ error: err.code, message: err.message }, 409);
  }
  if (err instanceof StoreUnavailable || err instanceof StoreCredentialsExpired) {
    // A census or job listing could not read the store; nothing was changed.
    return c.json({
      error: "store_unavailable",
      message: "the blob store cannot be reached; try again",
    }, 503);
  }
  if (err instanceof ChainUnavailableError) {
    // Identity cannot be checked without the chain: refuse rather than guess.
    return c.json({
      error: "chain_unavailable",
      message: "the identity chain cannot be reached; try again",
    }, 503);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413 ? "too_large" : status === 404 ? "not_found" : "bad_request";
    return c.json({ error: code, message: err.message || "request refused" }, status);
  }
  // Unknown failures: log the detail server-side, never echo it (it may carry internals).
  console.error("unhandled error:", err);
  return c.json({ error: "internal", message: "the server failed to handle this request" }, 500);
}

/** Epoch and job refusals (lib/reencrypt), with the details a client needs to act. */
function reencryptError(c: Context, err: ReencryptError): Response {
  const base = { error: err.code, message: err.message };
  if (err instanceof InvalidReencryptParams) return c.json(base, 400);
  if (err instanceof JobRunning) return c.json({ ...base, job_id: err.jobId }, 409);
  if (err instanceof JobNotFound || err instanceof EpochNotFound) return c.json(base, 404);
  if (err instanceof EpochNotRetiring) return c.json({ ...base, state: err.state }, 409);
  if (err instanceof EpochInUse) {
    return c.json({
      ...base,
      epoch: err.epoch,
      reason: err.reason,
      count: err.count,
      census: err.census,
      last_write_at: err.lastWriteAt,
    }, 409);
  }
  if (err instanceof EpochTagInUse) {
    return c.json({
      ...base,
      epoch: err.epoch,
      destroyed_epoch: err.destroyedEpoch,
      reason: err.reason,
      count: err.count,
      census_taken_at: err.censusTakenAt,
    }, 409);
  }
  if (err instanceof SessionExpired) return c.json(base, 401);
  console.error("unhandled re-encryption error:", err);
  return c.json({ error: "internal", message: "the server failed to handle this request" }, 500);
}
