/** Typed errors of the K3 keystore. @module */

import { CodedError } from "../errors/mod.ts";

/** Every code a {@linkcode KeystoreError} carries. */
export const SIGNER_ERROR_CODES = [
  "keystore_unseal_failed",
  "keystore_corrupt",
  "epoch_tag_collision",
  "epoch_state",
  // The seal key (seal_key.ts): none where a keystore exists, a supplied one asked to rotate, a
  // key file without 64 hex characters, a sealed file that is not one.
  "seal_key_missing",
  "seal_key_external",
  "seal_key_invalid",
  "sealed_file_corrupt",
] as const;
export type SignerErrorCode = typeof SIGNER_ERROR_CODES[number];

/** Base class; `code` is the snake_case code the HTTP layer and CLIs print. */
export class KeystoreError extends CodedError<SignerErrorCode> {}

/** The sealed keystore does not open: wrong seal key, or the file was altered. Never overwritten. */
export class KeystoreUnsealFailed extends KeystoreError {
  constructor(path: string) {
    super(
      "keystore_unseal_failed",
      `cannot unseal ${path}: wrong seal key (AGENTKEYS_SEAL_KEY / seal.key) or the file was modified; the file was left untouched`,
    );
  }
}

/** The keystore file is not a keystore this version understands. Never overwritten. */
export class KeystoreCorrupt extends KeystoreError {
  constructor(path: string, detail: string) {
    super(
      "keystore_corrupt",
      `keystore ${path} is corrupt (${detail}); the file was left untouched`,
    );
  }
}

/** Activating the next epoch would reuse the one-byte tag of an epoch that is still alive. */
export class EpochTagCollision extends KeystoreError {
  constructor(readonly epoch: number, readonly liveEpoch: number) {
    super(
      "epoch_tag_collision",
      `epoch ${epoch} would share tag ${
        epoch % 256
      } with live epoch ${liveEpoch}; destroy epoch ${liveEpoch} first`,
    );
  }
}

/** A state change the epoch state machine does not allow (e.g. destroying the active epoch). */
export class EpochStateError extends KeystoreError {
  constructor(message: string) {
    super("epoch_state", message);
  }
}
