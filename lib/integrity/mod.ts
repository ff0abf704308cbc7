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

export { IntegrityBlocked, IntegrityMismatch } from "./_errors.ts";
export { IntegrityStore } from "./_store.ts";
export { foldProof, leafHash, pointerLeaf, PointerTree } from "./_smt.ts";
export { anchorLagSeconds, type AnchorStatus, PointerAnchors } from "./_anchor.ts";
export { BlobProofs, type ProofTarget } from "./_proofs.ts";
