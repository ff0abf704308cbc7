/** Typed errors of vault integrity (ARCHITECTURE §13). @module */

import { CodedError } from "../errors/mod.ts";

/** Every code an error of lib/integrity carries. */
export const INTEGRITY_ERROR_CODES = ["integrity_mismatch", "integrity_blocked"] as const;
export type IntegrityErrorCode = typeof INTEGRITY_ERROR_CODES[number];

/**
 * The bytes the store returned are not the ones the pointer records (a rollback to an older
 * ciphertext, a flipped byte, a restored or deleted blob), or a blob has no pointer under
 * `AGENTKEYS_INTEGRITY=strict`. Raised before anything is decrypted; the blob is left untouched.
 *
 * ```ts
 * try { await store.get(key); } catch (err) { if (err instanceof IntegrityMismatch) … }
 * ```
 */
export class IntegrityMismatch extends CodedError<IntegrityErrorCode> {
  constructor(
    message: string,
    readonly detail: { key: string; expected: string | null; found: string | null },
  ) {
    super("integrity_mismatch", message);
  }
}

/**
 * Writes are refused: at start the state store was found older than the latest on-chain anchor
 * (restored from a backup), until an admin acknowledges (`deno task signer integrity-ack`).
 */
export class IntegrityBlocked extends CodedError<IntegrityErrorCode> {
  constructor(message: string) {
    super("integrity_blocked", message);
  }
}
