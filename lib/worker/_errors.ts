/** The worker's refusals, one class with the wire codes of API.md. @module */

import { CodedError } from "../errors/mod.ts";

/** Every error code the worker answers with (API.md, "Worker"). */
export const WORKER_REFUSAL_CODES = [
  "bad_request",
  "cap_invalid",
  "cap_expired",
  "cap_replayed",
  "session_revoked",
  "wrong_op",
  "wrong_data_class",
  "out_of_scope",
  "read_only",
  "not_found",
  "too_large",
  "envelope_corrupt",
  "epoch_destroyed",
  "store_unavailable",
  // The stored bytes are not the ones the pointer records (lib/integrity); writes refused
  // after a detected state rollback.
  "integrity_mismatch",
  "integrity_blocked",
  // Purging a revoked agent's blobs (operator session, not a cap):
  "other_operator",
  "agent_active",
] as const;

/** The code of a {@linkcode WorkerError}. */
export type WorkerErrorCode = typeof WORKER_REFUSAL_CODES[number];

/** Every code an error of lib/worker carries: the refusals and the layout's `invalid_name`. */
export const WORKER_ERROR_CODES = [...WORKER_REFUSAL_CODES, "invalid_name"] as const;

/** A refusal with its wire code; the HTTP layer picks the status from the code. */
export class WorkerError extends CodedError<WorkerErrorCode> {}
