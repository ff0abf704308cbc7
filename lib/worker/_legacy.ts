/**
 * What the census and the re-encryption engine can prove about blobs of the reference
 * implementation's wallet-keyed layout (issue 13, §16) without its signer key:
 *
 * - a **v1 key** (`bots/0x<40 hex>/credentials/<service>.enc`) is legacy by its key alone: this
 *   project's actor segment is 64 hex, never an address;
 * - a **v2 key** is this project's credential key of the actor with that omni, and a legacy blob
 *   starts with 0x01/0x02 like an envelope of epoch 1 or 2. Only authenticated decryption tells
 *   them apart: a credentials blob whose first byte is 1 or 2 and that does not authenticate under
 *   the epoch that byte names (or names no epoch) is `legacy` — it is not an envelope of that
 *   epoch, whatever else it is (a damaged envelope looks the same, and is as unreadable).
 *
 * @module
 */

import { EnvelopeEpochDestroyed, EnvelopeError } from "../crypto/mod.ts";
import { type KeyProvider, openBlob } from "./_codec.ts";
import type { BlobLocation } from "./_layout.ts";

const V1_KEY = /^bots\/0x[0-9a-f]{40}\/credentials\/[^/]+\.enc$/;

/**
 * Whether `key` is a legacy v1 key (provably not this project's).
 *
 * ```ts
 * isLegacyV1Key("bots/0x9f…/credentials/openai.enc"); // true
 * ```
 */
export function isLegacyV1Key(key: string): boolean {
  return V1_KEY.test(key);
}

/**
 * Whether a blob at `loc` starting with `firstByte` could be a legacy v2 blob, so that only a
 * full read and authenticated decryption may count it under an epoch.
 */
export function mayBeLegacy(loc: BlobLocation | undefined, firstByte: number | undefined): boolean {
  return loc?.dataClass === "credentials" && (firstByte === 1 || firstByte === 2);
}

/**
 * Authenticates `blob` as an envelope of `loc`: `envelope` (it opens), `destroyed` (its tag's
 * epoch was destroyed), else `legacy` (not an envelope of the epoch its first byte names).
 *
 * ```ts
 * provenEnvelope(keystore, loc, (await store.get(loc.key))!.body); // "legacy"
 * ```
 */
export function provenEnvelope(
  keys: KeyProvider,
  loc: BlobLocation,
  blob: Uint8Array,
): "envelope" | "destroyed" | "legacy" {
  try {
    openBlob(keys, loc, blob).plaintext.fill(0);
    return "envelope";
  } catch (err) {
    if (err instanceof EnvelopeEpochDestroyed) return "destroyed";
    if (err instanceof EnvelopeError) return "legacy";
    throw err;
  }
}
