/**
 * The signer: holds the K3 epoch keys, sealed at rest, and hands out per-request KEK handles.
 * Everything that may touch K3 is in this folder.
 *
 * ```ts
 * import { EpochKeystore, SealKey } from "./lib/signer/mod.ts";
 * const sealKey = await SealKey.load({ dataDir, keystorePath });
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
  KEYSTORE_SEAL_AAD,
  type RotateGuard,
} from "./_keystore.ts";
export { parseKey, resealFiles, type RotationStep, type SealedFile, SealKey } from "./_seal_key.ts";
export { EpochStateError, KeystoreError, type SignerErrorCode } from "./_errors.ts";

/** Where the embedded keystore lives inside the data directory. */
export const KEYSTORE_FILE = "signer/keystore.json";
