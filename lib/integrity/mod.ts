/**
 * Vault integrity (ARCHITECTURE §13, seed 001): a pointer for every blob, checked on every full
 * read; a Merkle commitment over the pointers anchored on chain with the audit log's head; and
 * proofs anyone can check. `lib/datadir` wraps the configured blob store in
 * {@linkcode IntegrityStore}, so every component that writes or reads blobs goes through it.
 *
 * ```ts
 * import { IntegrityStore, IntegrityMismatch } from "./lib/integrity/mod.ts";
 * const store = new IntegrityStore(base, { pointers: new KvPointerStore(kv) });
 * ```
 *
 * @module
 */

export {
  INTEGRITY_ERROR_CODES,
  IntegrityBlocked,
  type IntegrityErrorCode,
  IntegrityMismatch,
} from "./_errors.ts";
export {
  type IntegrityMode,
  IntegrityStore,
  type IntegrityStoreOptions,
  sha256Hex,
} from "./_store.ts";
export {
  EMPTY,
  foldProof,
  keyPath,
  leafHash,
  nodeHash,
  type PointerFields,
  pointerLeaf,
  PointerTree,
} from "./_smt.ts";
export {
  type AnchorChain,
  anchorLagSeconds,
  type AnchorStatus,
  type AuditHeadSource,
  PointerAnchors,
  type PointerAnchorsOptions,
  type PointerProof,
} from "./_anchor.ts";
export { type BlobProof, BlobProofs, ProofRefused, type ProofTarget } from "./_proofs.ts";
