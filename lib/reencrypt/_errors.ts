/** Typed errors of the re-encryption component; `code` is the wire code of API.md. @module */

import { CodedError } from "../errors/mod.ts";
import { StoreCredentialsExpired } from "../store/mod.ts";

/** The codes of this component's refusals (the HTTP layer maps each to a status). */
export const REENCRYPT_ERROR_CODES = [
  "invalid_params",
  "job_running",
  "not_found",
  "session_expired",
] as const;

/** Base class: `code` is the snake_case error code the HTTP layer and the CLIs print. */
export class ReencryptError extends CodedError<string> {}

/**
 * The run's parameters are wrong (equal epochs, new epoch not active, old epoch not retiring,
 * unknown epochs, bad omni, concurrency or classes). HTTP 400; CLI exit code 2.
 */
export class InvalidReencryptParams extends ReencryptError {
  constructor(message: string) {
    super("invalid_params", message);
  }
}

/** Another job runs for this operator. HTTP 409 `job_running`; CLI exit code 1. */
export class JobRunning extends ReencryptError {
  constructor(readonly jobId: string, readonly operator: string) {
    super("job_running", `job ${jobId} is already running for ${operator}`);
  }
}

/** No job has this id. HTTP 404. */
export class JobNotFound extends ReencryptError {
  constructor(readonly jobId: string) {
    super("not_found", `no re-encryption job ${jobId}`);
  }
}

/**
 * An operator session expired while a run needed it. The session layer may throw this class or
 * any error whose `code` is `"session_expired"`: both stop a run at once, like an expired store
 * credential (CLI exit code 75).
 */
export class SessionExpired extends ReencryptError {
  constructor(message = "the session expired; log in again and re-run to continue") {
    super("session_expired", message);
  }
}

/**
 * Whether `err` means "the credentials this run depends on expired": the run must stop at once
 * (no further writes) so that a re-run with fresh credentials continues.
 *
 * ```ts
 * isExpiry(new StoreCredentialsExpired("ExpiredToken")); // true
 * isExpiry(Object.assign(new Error("x"), { code: "session_expired" })); // true
 * ```
 */
export function isExpiry(err: unknown): boolean {
  if (err instanceof StoreCredentialsExpired || err instanceof SessionExpired) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === "session_expired" || code === "credentials_expired";
}
