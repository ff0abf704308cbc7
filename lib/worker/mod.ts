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

export {
  type AuthorizedCap,
  type CapAuthority,
  type CapInput,
  type FetchResult,
  VaultWorker,
  type VaultWorkerDeps,
} from "./vault.ts";
export { type KeyProvider, openBlob, sealBlob } from "./codec.ts";
export { WORKER_ERROR_CODES, WorkerError, type WorkerErrorCode } from "./errors.ts";
export {
  actorHexOf,
  type BlobLocation,
  checkName,
  classPrefix,
  credentialLocation,
  inboundLocation,
  InvalidName,
  keyringDocLocation,
  keyringRecordLocation,
  memberKeyLocation,
  memoryLocation,
  parseBlobKey,
} from "./layout.ts";
export { ChainCapAuthority } from "./authority.ts";
export { isLegacyV1Key, mayBeLegacy, provenEnvelope } from "./legacy.ts";
export { AgentPurger } from "./purge.ts";
export { type CredentialItem, CredentialLister } from "./list.ts";
