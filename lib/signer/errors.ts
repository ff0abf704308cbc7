/** Typed errors of the K3 keystore. @module */

/** Base class; `code` is the snake_case code the HTTP layer and CLIs print. */
export class KeystoreError extends Error {
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

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
