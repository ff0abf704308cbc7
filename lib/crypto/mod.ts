/**
 * AgentKeys crypto: KEK derivation (ARCHITECTURE.md §3) and envelope v2 (§4). This is the only
 * import path other components use; everything else in lib/crypto is internal.
 *
 * ```ts
 * import { deriveKek, openEnvelope, sealEnvelope } from "../crypto/mod.ts";
 * const ctx = { dataClass: "credentials", actorHex, objectName: "github/token" } as const;
 * const kek = deriveKek(k3, ctx.dataClass, ctx.actorHex); // cache per (epoch, class, actor)
 * const blob = sealEnvelope(kek, epoch, ctx, plaintext);
 * const same = openEnvelope(kek, epoch, ctx, blob);
 * ```
 *
 * @module
 */

export { DATA_CLASSES, type DataClass, deriveKek, Kek } from "./_kek.ts";
export { ENVELOPE_OVERHEAD, envelopeEpochTag, openEnvelope, sealEnvelope } from "./_envelope.ts";
export {
  EnvelopeAuthFailed,
  EnvelopeEpochDestroyed,
  EnvelopeError,
  type EnvelopeErrorCode,
  EnvelopeUnknownEpoch,
} from "./_errors.ts";
// Raw AES-256-GCM opening, for lib/migrate's reader of the reference implementation's blobs
// (issue 13): that format is not an envelope, but its cipher is the same one.
export { aesGcmOpen } from "./_aead.ts";
// secretbox.ts (small secrets at rest under the seal key) belongs to another component; it
// lives here because it builds on aead.ts, and is re-exported so mod.ts stays the one path.
export { openSecret, sealSecret } from "./_secretbox.ts";
