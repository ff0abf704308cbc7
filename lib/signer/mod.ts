/**
 * The signer: holds the K3 epoch keys, sealed at rest, and hands out per-request KEK handles.
 * Everything that may touch K3 is in this folder.
 *
 * ```ts
 * import { EpochKeystore, loadSealKey } from "./lib/signer/mod.ts";
 * const sealKey = await loadSealKey({ dataDir, keystorePath });
 * const keystore = await EpochKeystore.open({ path: keystorePath, sealKey });
 * ```
 *
 * @module
 */

export {
  type DestroyGuard,
  type EpochInfo,
  EpochKeystore,
  type EpochState,
  type KeystoreOptions,
} from "./keystore.ts";
export { loadSealKey, SEAL_KEY_FILE } from "./seal_key.ts";
export {
  EpochStateError,
  EpochTagCollision,
  KeystoreCorrupt,
  KeystoreError,
  KeystoreUnsealFailed,
} from "./errors.ts";

/** Where the embedded keystore lives inside the data directory. */
export const KEYSTORE_FILE = "signer/keystore.json";
