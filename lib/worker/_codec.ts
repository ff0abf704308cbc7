/**
 * Turning plaintext into a stored blob and back, given a blob's location and the signer's keys.
 * The worker and the re-encryption job both use these two functions, so the envelope is built
 * in exactly one way.
 *
 * @module
 */

import {
  type DataClass,
  EnvelopeAuthFailed,
  EnvelopeEpochDestroyed,
  envelopeEpochTag,
  type Kek,
  openEnvelope,
  sealEnvelope,
} from "../crypto/mod.ts";
import type { BlobLocation } from "./_layout.ts";

/** What the worker needs from the signer: the active epoch and KEK handles, never K3. */
export interface KeyProvider {
  readonly activeEpoch: number;
  epochForTag(tag: number): number;
  kek(epoch: number, dataClass: DataClass, actorHex: string): Kek;
  /** The newest destroyed epoch with this tag, if any (see {@linkcode openBlob}). */
  destroyedEpochForTag?(tag: number): number | undefined;
  /** Picks up an epoch change made by another process (cheap; throttled by the keystore). */
  refresh?(): Promise<void>;
}

/**
 * Encrypts `plaintext` for `loc` under `epoch` (default: the active epoch).
 *
 * ```ts
 * const { blob, epoch } = sealBlob(keys, credentialLocation(actor, "openai"), bytes);
 * ```
 */
export function sealBlob(
  keys: KeyProvider,
  loc: BlobLocation,
  plaintext: Uint8Array,
  epoch: number = keys.activeEpoch,
): { blob: Uint8Array; epoch: number } {
  const kek = keys.kek(epoch, loc.dataClass, loc.actorHex);
  const blob = sealEnvelope(kek, epoch, {
    dataClass: loc.dataClass,
    actorHex: loc.actorHex,
    objectName: loc.objectName,
  }, plaintext);
  return { blob, epoch };
}

/**
 * Decrypts a blob read from `loc`. Throws the crypto module's typed errors (`too_short`,
 * `unknown_epoch`, `epoch_destroyed`, `auth_failed`); never returns partial plaintext.
 *
 * Byte 0 holds only `epoch mod 256`, so a blob left under destroyed epoch e is mapped to the
 * live epoch e+256k that reuses the tag, and fails authentication there (the AAD binds the
 * full epoch). When a destroyed epoch had the tag, that failure is reported as
 * `epoch_destroyed`: the blob's own epoch cannot be proven, but a destroyed epoch is the
 * likely origin (the rotation guard keeps such blobs from existing), and "damaged" would send
 * the operator hunting for corruption that is not there.
 *
 * ```ts
 * const { plaintext, epoch } = openBlob(keys, loc, stored.body);
 * ```
 */
export function openBlob(
  keys: KeyProvider,
  loc: BlobLocation,
  blob: Uint8Array,
): { plaintext: Uint8Array; epoch: number } {
  const tag = envelopeEpochTag(blob);
  const epoch = keys.epochForTag(tag);
  const kek = keys.kek(epoch, loc.dataClass, loc.actorHex);
  try {
    const plaintext = openEnvelope(kek, epoch, {
      dataClass: loc.dataClass,
      actorHex: loc.actorHex,
      objectName: loc.objectName,
    }, blob);
    return { plaintext, epoch };
  } catch (err) {
    const dead = err instanceof EnvelopeAuthFailed ? keys.destroyedEpochForTag?.(tag) : undefined;
    if (dead !== undefined) throw new EnvelopeEpochDestroyed(dead);
    throw err;
  }
}
