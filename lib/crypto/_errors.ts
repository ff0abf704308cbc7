/**
 * Typed errors for envelope v2 (ARCHITECTURE.md §4): a short blob, an unknown epoch tag, a
 * destroyed epoch and a failed tag check are distinct, so callers can map each to its own
 * wire code without parsing messages.
 *
 * ```ts
 * import { EnvelopeError, openEnvelope } from "./mod.ts";
 * try {
 *   openEnvelope(kek, epoch, ctx, blob);
 * } catch (e) {
 *   if (e instanceof EnvelopeError) console.log(e.code); // "auth_failed", "too_short", …
 *   else throw e;
 * }
 * ```
 *
 * @module
 */

import { CodedError } from "../errors/mod.ts";

/** The wire codes an {@linkcode EnvelopeError} can carry. */
export const ENVELOPE_ERROR_CODES = [
  "too_short",
  "unknown_epoch",
  "epoch_destroyed",
  "auth_failed",
] as const;
export type EnvelopeErrorCode = typeof ENVELOPE_ERROR_CODES[number];

/** Base class of every envelope error; `code` is stable and safe to return to clients. */
export class EnvelopeError extends CodedError<EnvelopeErrorCode> {}

/**
 * The blob is shorter than the 29-byte minimum (1 tag + 12 nonce + 16 GCM tag).
 *
 * ```ts
 * envelopeEpochTag(new Uint8Array(3)); // throws EnvelopeTooShort { length: 3 }
 * ```
 */
export class EnvelopeTooShort extends EnvelopeError {
  constructor(readonly length: number) {
    super("too_short", `envelope is ${length} bytes; at least 29 are needed`);
  }
}

/**
 * No known epoch has this tag (byte 0). Thrown by the signer, which owns the epoch table.
 *
 * ```ts
 * throw new EnvelopeUnknownEpoch(envelopeEpochTag(blob));
 * ```
 */
export class EnvelopeUnknownEpoch extends EnvelopeError {
  constructor(readonly tag: number) {
    super("unknown_epoch", `no known K3 epoch has tag ${tag}`);
  }
}

/**
 * The blob's epoch was destroyed: its key material is gone, so the blob cannot be read.
 * Thrown by the signer.
 *
 * ```ts
 * throw new EnvelopeEpochDestroyed(7);
 * ```
 */
export class EnvelopeEpochDestroyed extends EnvelopeError {
  constructor(readonly epoch: number) {
    super("epoch_destroyed", `K3 epoch ${epoch} was destroyed; the blob cannot be decrypted`);
  }
}

/**
 * The GCM tag did not verify: wrong key, wrong context (actor, class, object name, epoch) or a
 * modified blob. The message deliberately says nothing about which, so it gives an attacker
 * no oracle beyond pass/fail.
 *
 * ```ts
 * openEnvelope(kek, epoch, { ...ctx, objectName: "other" }, blob); // throws EnvelopeAuthFailed
 * ```
 */
export class EnvelopeAuthFailed extends EnvelopeError {
  constructor() {
    super("auth_failed", "envelope authentication failed");
  }
}
