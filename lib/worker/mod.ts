/**
 * The worker trust zone: cap-authorized encryption and decryption of credentials and memory,
 * the object layout, and the blob codec the re-encryption job shares.
 *
 * ```ts
 * import { VaultWorker } from "./lib/worker/mod.ts";
 * const worker = new VaultWorker({ store, keys, state, capKeys, limits, authority, ledger, sessions });
 * ```
 *
 * @module
 */

export { type AuthorizedCap, type FetchResult, VaultWorker } from "./_vault.ts";
export { type KeyProvider, openBlob, sealBlob } from "./_codec.ts";
export { WORKER_ERROR_CODES, WorkerError } from "./_errors.ts";
export {
  actorHexOf,
  type BlobLocation,
  checkName,
  classPrefix,
  credentialLocation,
  inboundLocation,
  memoryLocation,
  parseBlobKey,
} from "./_layout.ts";
export { ChainCapAuthority } from "./_authority.ts";
export { isLegacyV1Key, mayBeLegacy, provenEnvelope } from "./_legacy.ts";
export { AgentPurger } from "./_purge.ts";
export { type CredentialItem, CredentialLister } from "./_list.ts";
