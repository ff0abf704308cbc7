/**
 * Eager re-encryption (ARCHITECTURE §8): the engine that moves blobs from a retiring K3 epoch to
 * the active one, and persisted jobs with replayable event logs around it. Who *changes* epochs
 * (rotate, census, destroy) is `lib/epochs`; the command lines are `lib/cli`. The only import
 * path other components use.
 *
 * ```ts
 * import { runReencrypt } from "./lib/reencrypt/mod.ts";
 * const summary = await runReencrypt(
 *   { operatorOmni, oldEpoch: 1, newEpoch: 2, dryRun: true },
 *   { store, keys: keystore, actors },
 *   (event) => console.log(event.event, event.data),
 * );
 * ```
 *
 * @module
 */

export { runReencrypt } from "./_engine.ts";
export { DEFAULT_CONCURRENCY, epochAfter, MAX_CONCURRENCY } from "./_classify.ts";
export {
  InvalidReencryptParams,
  isExpiry,
  JobNotFound,
  JobRunning,
  REENCRYPT_ERROR_CODES,
  ReencryptError,
  SessionExpired,
} from "./_errors.ts";
export type {
  ActorDirectory,
  BlobEvent,
  EpochKeys,
  JobEvent,
  JobRequest,
  ProgressEvent,
  RunState,
  SummaryEvent,
} from "./_types.ts";
export { JobRunner, type JobRunnerDeps } from "./_jobs.ts";
// The listing primitives the census (lib/epochs) shares with the engine.
export { drain } from "./_pool.ts";
export { actorHexesOf, scanActors, type ScanItem } from "./_scan.ts";
