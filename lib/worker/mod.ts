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
  type StoreResult,
  VaultWorker,
  type VaultWorkerDeps,
} from "./vault.ts";
export { type KeyProvider, openBlob, sealBlob } from "./codec.ts";
export {
  WORKER_ERROR_CODES,
  WORKER_REFUSAL_CODES,
  WorkerError,
  type WorkerErrorCode,
} from "./errors.ts";
export {
  actorHexOf,
  type BlobLocation,
  checkName,
  classPrefix,
  credentialLocation,
  inboundLocation,
  InvalidName,
  memoryLocation,
  parseBlobKey,
} from "./layout.ts";
export { ChainCapAuthority, type IdentityChecks } from "./authority.ts";
export { type AgentDirectory, AgentPurger, type AgentPurgerDeps } from "./purge.ts";
export {
  CRED_LIST_DEFAULT_LIMIT,
  CRED_LIST_MAX_LIMIT,
  type CredentialItem,
  CredentialLister,
  type CredentialListerDeps,
  type CredentialPage,
} from "./list.ts";
