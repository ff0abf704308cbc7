/**
 * Epoch administration (ARCHITECTURE §8.1, §8.4, §8.5): who *changes* K3 epochs. Rotation,
 * census, destruction behind the census guard, the rotate guard for reused one-byte tags, and
 * recording those changes on chain (with pending chain records when that cannot be done), plus
 * {@linkcode openEpochs}, the one wiring of these components and the re-encryption jobs that the
 * service and the headless commands share. The only import path other components use.
 *
 * ```ts
 * import { openEpochs } from "./lib/epochs/mod.ts";
 * const { admin, runner } = await openEpochs({ store, keystore, kv: state.kv });
 * const { active, previous } = await admin.rotate();
 * await runner.start({ operator_omni, old_epoch: previous, new_epoch: active });
 * ```
 *
 * @module
 */

export { type ChainOutcome, EpochAdmin } from "./_admin.ts";
export {
  EPOCH_ERROR_CODES,
  EpochError,
  EpochInUse,
  EpochNotFound,
  EpochNotRetiring,
  EpochTagInUse,
} from "./_errors.ts";
export type { EpochRecorder } from "./_recorder.ts";
// The keystore's epoch rows and refusals, as routes see them: they never import lib/signer.
export type { EpochInfo, SignerErrorCode } from "../signer/mod.ts";
export {
  type Headless,
  type HeadlessChain,
  type HeadlessOptions,
  openEpochs,
  openHeadless,
} from "./_open.ts";
