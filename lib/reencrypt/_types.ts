/**
 * The shapes the re-encryption engine takes and emits. Event payloads use the wire names of
 * API.md (snake_case) so the HTTP layer can forward them untouched.
 *
 * @module
 */

import type { DataClass } from "../crypto/mod.ts";
import type { EpochState } from "../signer/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import type { ReencryptEvent, SummaryEvent, WriteLedger } from "../state/mod.ts";
import type { KeyProvider } from "../worker/mod.ts";

// The events a run emits are the job log's wire types, kept with the log in lib/state (where the
// browser-safe lib/client may import them).
export type {
  BlobEvent,
  JobEvent,
  JobRequest,
  Outcome,
  ProgressEvent,
  ReencryptEvent,
  RunState,
  SummaryEvent,
} from "../state/mod.ts";

/**
 * The actors of an operator: the operator itself and its registered agents, as `0x` omnis.
 * `ChainActorDirectory` implements it from `AgentRegistry.agentsOf` (+ `getDevice`);
 * `KvActorIndex` in `lib/state` knows the actors seen writing (the fallback when a headless
 * command cannot reach the chain).
 * Errors whose `code` is `"session_expired"` abort a run like an expired store credential.
 */
export interface ActorDirectory {
  actorsOf(operatorOmni: string): Promise<string[]>;
}

/** What the engine needs from the signer: KEK handles and the epoch table, never K3. */
export interface EpochKeys extends KeyProvider {
  stateOf(epoch: number): EpochState | undefined;
  /**
   * Re-reads the epoch table (another process, e.g. `deno task signer rotate`, may have
   * changed it). `JobRunner.start` calls it before validating a job when present.
   */
  reload?(): Promise<void>;
}

/** The parameters of one run. */
export interface ReencryptParams {
  /** `0x` + 64 hex, or `"all"` to scan every actor under `bots/`. */
  operatorOmni: string;
  oldEpoch: number;
  newEpoch: number;
  /** Classify only (1-byte range reads), write nothing. Default false. */
  dryRun?: boolean;
  /** Blobs in flight at once. Default 16, at most 256. */
  concurrency?: number;
  /** Default: credentials, memory, inbound. */
  classes?: DataClass[];
  /** Aborting it cancels the run (state `cancelled`). */
  signal?: AbortSignal;
}

/** {@linkcode ReencryptParams} after validation, with defaults filled in. */
export interface ValidParams {
  operatorOmni: string;
  oldEpoch: number;
  newEpoch: number;
  dryRun: boolean;
  concurrency: number;
  classes: DataClass[];
}

/** What the engine works with. */
export interface ReencryptDeps {
  store: BlobStore;
  keys: EpochKeys;
  actors: ActorDirectory;
  /** Records every rewrite (under the new epoch) for the destroy guard and the actor index. */
  ledger?: WriteLedger;
  /** Clock for `ms` and rates, for tests. */
  now?: () => number;
  /**
   * Receives the detail of failures (store and chain messages: paths, endpoints, object keys),
   * which events and summaries never carry. Default: `console.warn` (the service log).
   */
  warn?: (message: string) => void;
}

/** Receives events. May return a promise to apply backpressure (the engine awaits it). */
export type EventSink = (event: ReencryptEvent) => void | Promise<void>;

/** What {@linkcode runReencrypt} resolves to: the summary plus how many keys it listed. */
export interface ReencryptResult extends SummaryEvent {
  listed: number;
}
