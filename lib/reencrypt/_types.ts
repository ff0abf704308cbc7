/**
 * The shapes the re-encryption engine takes and emits. Event payloads use the wire names of
 * API.md (snake_case) so the HTTP layer can forward them untouched.
 *
 * @module
 */

import type { DataClass } from "../crypto/mod.ts";
import type { EpochState } from "../signer/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import type { WriteLedger } from "../state/mod.ts";
import type { KeyProvider } from "../worker/mod.ts";

/** Per-blob outcome (API.md, `blob` event). */
export type Outcome = "reencrypted" | "would-reencrypt" | "skipped" | "other-epoch" | "failed";

/** How a run ended. */
export type RunState = "succeeded" | "failed" | "aborted" | "cancelled";

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

/** `blob` event: one blob's outcome. Never carries plaintext or key material. */
export interface BlobEvent {
  key: string;
  /** `0x` omni, or `null` when the key names no actor. */
  actor_omni: string | null;
  data_class: DataClass | null;
  /** The epoch byte 0 names, or `null` when it names none (unknown tag, unreadable). */
  from_epoch: number | null;
  outcome: Outcome;
  reason?: string;
  ms: number;
}

/** `progress` event (throttled). */
export interface ProgressEvent {
  listed: number;
  done: number;
  rate_per_s: number;
}

/** `summary` event: the last event of a run. */
export interface SummaryEvent {
  reencrypted: number;
  would_reencrypt: number;
  skipped: number;
  other_epoch: number;
  failed: number;
  duration_ms: number;
  state: RunState;
  /**
   * Why the run stopped early (aborted, cancelled, or a listing failure): codes and fixed
   * sentences only, never a store's or chain's own message (see `ReencryptDeps.warn`).
   */
  error?: string;
}

/** Everything a run emits, in order; `summary` comes last. */
export type ReencryptEvent =
  | { event: "blob"; data: BlobEvent }
  | { event: "progress"; data: ProgressEvent }
  | { event: "summary"; data: SummaryEvent };

/** Receives events. May return a promise to apply backpressure (the engine awaits it). */
export type EventSink = (event: ReencryptEvent) => void | Promise<void>;

/** What {@linkcode runReencrypt} resolves to: the summary plus how many keys it listed. */
export interface ReencryptResult extends SummaryEvent {
  listed: number;
}
