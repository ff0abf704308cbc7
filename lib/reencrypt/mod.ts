/**
 * Eager re-encryption (ARCHITECTURE §8): the engine that moves blobs from a retiring K3 epoch to
 * the active one, the census that counts blobs per epoch, the guard that keeps an epoch from
 * being destroyed while it still holds blobs, persisted jobs with replayable event logs, and the
 * headless command lines (`deno task reencrypt`, `deno task signer`). The only import path other
 * components use.
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

export { runReencrypt } from "./engine.ts";
export {
  classifyHeader,
  DEFAULT_CONCURRENCY,
  epochAfter,
  finalState,
  headerOutcome,
  MAX_CONCURRENCY,
  Tally,
  validateParams,
  type Verdict,
} from "./classify.ts";
export { CensusCancelled, censusLabel, type CensusOptions, takeCensus } from "./census.ts";
export {
  censusDestroyGuard,
  censusRotateGuard,
  type CensusSource,
  checkEpochEmpty,
  checkTagFree,
} from "./guard.ts";
export {
  EpochInUse,
  type EpochInUseReason,
  EpochNotFound,
  EpochNotRetiring,
  EpochTagInUse,
  type EpochTagInUseReason,
  InvalidReencryptParams,
  isExpiry,
  JobNotFound,
  JobRunning,
  ReencryptError,
  SessionExpired,
} from "./errors.ts";
export type {
  ActorDirectory,
  BlobEvent,
  EpochKeys,
  EventSink,
  Outcome,
  ProgressEvent,
  ReencryptDeps,
  ReencryptEvent,
  ReencryptParams,
  ReencryptResult,
  RunState,
  SummaryEvent,
  ValidParams,
} from "./types.ts";
export { type JobRequest, JobRunner, type JobRunnerDeps } from "./jobs.ts";
export {
  EXIT,
  exitCodeOf,
  formatBlobLine,
  formatSummary,
  main as reencryptMain,
  type ReencryptCliDeps,
  type TextOut,
  USAGE,
} from "./cli.ts";
export {
  type Headless,
  type HeadlessChain,
  type HeadlessOptions,
  NoKeystore,
  openHeadless,
} from "./headless.ts";
export { EventStreamLost, RemoteError, RemoteJobClient, type RemoteJobOptions } from "./client.ts";
export { type SseMessage, SseParser } from "./sse.ts";
export { SIGNER_USAGE, type SignerCliDeps, signerMain } from "./signer_cli.ts";
export { type EpochRecorder, KvChainPending, type PendingChainRecord } from "./recorder.ts";
export {
  type AdminKeystore,
  type ChainOutcome,
  type DestroyResult,
  EpochAdmin,
  type EpochAdminDeps,
  type EpochOverview,
  type ForceContext,
  type ReconcileItem,
  type ReconcileResult,
  type RotateResult,
} from "./epoch_admin.ts";
export { type AgentRegistryReader, ChainActorDirectory, UnionActorDirectory } from "./actors.ts";
