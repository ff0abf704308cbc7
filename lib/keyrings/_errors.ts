/** The keyring refusals, one class with stable codes (statuses live in routes/errors.ts). @module */

import { CodedError } from "../errors/mod.ts";

/** Every code a {@linkcode KeyringError} carries. */
export const KEYRING_ERROR_CODES = [
  // A record that is malformed, unsigned, signed by another key, or missing its history.
  "record_invalid",
  // A record older (version or rotation) than one this member has already seen.
  "record_rollback",
  // The caller is not a current member of the ring (never was, or was removed).
  "not_a_member",
  // The ring has no group key for the rotation a document names.
  "rotation_unknown",
  // A document's bytes are not a keyring document, or fail authentication.
  "document_invalid",
  // A member key whose signature does not name the actor it claims.
  "member_key_invalid",
  // Server side: no ring (or no published member key) under that name.
  "keyring_not_found",
  "member_key_not_found",
  // Server side: a ring of that name exists already.
  "keyring_exists",
  // Server side: the update was not based on the current version (compare-and-swap lost).
  "keyring_conflict",
  // Server side: a document written under a rotation that is no longer the ring's current one.
  "rotation_stale",
] as const;

export type KeyringErrorCode = typeof KEYRING_ERROR_CODES[number];

/**
 * ```ts
 * throw new KeyringError("not_a_member", "this actor is not a member of ring team");
 * ```
 */
export class KeyringError extends CodedError<KeyringErrorCode> {}
