/** Typed errors every {@linkcode BlobStore} throws, whatever its backend. @module */

import { CodedError } from "../errors/mod.ts";

/** Every code a {@linkcode StoreError} carries. */
export const STORE_ERROR_CODES = [
  "precondition_failed",
  "store_unavailable",
  "credentials_expired",
  "invalid_key",
  // Any other refusal of the backend (e.g. S3 AccessDenied, an answer without an ETag).
  "store_error",
] as const;
export type StoreErrorCode = typeof STORE_ERROR_CODES[number];

/** Base class: `code` is stable; messages may name paths, endpoints and keys (logs only). */
export class StoreError extends CodedError<StoreErrorCode> {}

/** A conditional write lost: the object changed (ifMatch) or exists (ifNoneMatch). */
export class PreconditionFailed extends StoreError {
  constructor(readonly key: string) {
    super("precondition_failed", `the object ${key} changed or exists; write refused`);
  }
}

/** The backend cannot be reached or kept failing after retries. */
export class StoreUnavailable extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super("store_unavailable", message, options);
  }
}

/** The store's credentials expired (S3 `ExpiredToken`): long jobs stop at once on this. */
export class StoreCredentialsExpired extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super("credentials_expired", message, options);
  }
}

/**
 * A key the store refuses: empty, absolute, `.`/`..`/empty segments, backslashes, control
 * characters, too long (see `_key.ts`); on fs also a key that collides with a directory (`a` when
 * `a/b` exists) or runs through a file (`a/b` when `a` exists).
 */
export class InvalidKey extends StoreError {
  constructor(readonly key: string) {
    super("invalid_key", `invalid object key: ${JSON.stringify(key)}`);
  }
}
