/**
 * Epoch administration (ARCHITECTURE §8.1, §8.4, §8.5) as structured operations, shared by
 * `deno task signer` (which turns the results into text and exit codes) and the HTTP routes
 * `/v1/epochs/*` (which turn them into JSON and statuses):
 *
 * - **rotate**: the keystore activates epoch N+1, then the chain records it. The keystore is the
 *   source of truth for keys: when the chain step is impossible (no recorder), fails, or lands on
 *   another epoch, the keystore change stands and the gap is kept as a pending chain record (KV
 *   and audit log) until {@linkcode EpochAdmin.reconcile}.
 * - **census**: counts blobs per epoch (global, and/or one operator's actors) and saves it.
 * - **destroy**: erases a retiring epoch's key behind `censusDestroyGuard`; a refusal is audited
 *   with its counts. `force` skips the guard and is written to the audit log *before* the key is
 *   erased. Then the chain records `EpochDestroyed` (or a pending record says why not).
 * - **reconcile**: records pending changes once a recorder can, never advancing the counter twice.
 *
 * Rotations, destructions and reconciles run one at a time per process (one mutex for every
 * `EpochAdmin`), so two HTTP rotations cannot interleave their keystore and chain steps. Another
 * process (a headless `deno task signer`) is not covered: the keystore's file lock orders the
 * key changes, and a chain counter that ends up elsewhere is reported as a mismatch.
 *
 * ```ts
 * const admin = new EpochAdmin({ keystore, store, censusStore, ledger, audit, pending, recorder });
 * const r = await admin.rotate({ by: "0xadmin…" });
 * if (r.chain.status !== "recorded") console.warn("pending chain record", r.chain);
 * ```
 *
 * @module
 */

import type { EpochInfo, EpochKeystore } from "../signer/mod.ts";
import { EpochStateError } from "../signer/mod.ts";
import type {
  AuditLog,
  Census,
  KvCensusStore,
  KvChainPending,
  PendingChainRecord,
  WriteLedger,
} from "../state/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import { takeCensus } from "./_census.ts";
import { EpochInUse, EpochNotFound, EpochNotRetiring } from "./_errors.ts";
import { censusDestroyGuard, censusRotateGuard } from "./_guard.ts";
import type { EpochRecorder } from "./_recorder.ts";
import type { ActorDirectory } from "../reencrypt/mod.ts";

/** The keystore operations epoch administration uses (`EpochKeystore` fits). */
export type AdminKeystore = Pick<
  EpochKeystore,
  | "activeEpoch"
  | "list"
  | "stateOf"
  | "epochForTag"
  | "rotate"
  | "destroy"
  | "reload"
  | "sealKeyRotates"
>;

/** What an {@linkcode EpochAdmin} works with. */
export interface EpochAdminDeps {
  keystore: AdminKeystore;
  store: BlobStore;
  censusStore: Pick<KvCensusStore, "save" | "latestGlobal" | "latestFor">;
  ledger: Pick<WriteLedger, "lastWrite">;
  audit: AuditLog;
  pending: Pick<KvChainPending, "add" | "remove" | "list">;
  /** Records epoch changes on chain; absent: nothing is recorded, `noRecorderReason` says why. */
  recorder?: EpochRecorder;
  /** Why there is no recorder, for results and messages. */
  noRecorderReason?: string;
  /** Needed for operator censuses. */
  actors?: ActorDirectory;
  /** Blobs read at once by a census. Default: the engine's default. */
  censusConcurrency?: number;
  now?: () => Date;
}

/** What became of the chain step of a rotation or destruction. */
export type ChainOutcome =
  | { status: "recorded"; txHash: string }
  /** No recorder: saved as a pending chain record. */
  | { status: "not_recorded"; reason: string }
  /** The transaction failed: saved as a pending chain record. */
  | { status: "failed"; error: string }
  /** The counter moved to another epoch than the keystore activated: saved as pending. */
  | { status: "mismatch"; chainEpoch: number; txHash: string };

/** The result of {@linkcode EpochAdmin.rotate}. */
export interface RotateResult {
  active: number;
  previous: number;
  /** When the keystore rotated (ISO 8601). */
  at: string;
  chain: ChainOutcome;
}

/** What a forced destruction skips: shown to the operator and written to the audit log. */
export interface ForceContext {
  epoch: number;
  /** The latest global census, or `null`. */
  census: Census | null;
  /** Blobs that census counted under the epoch (`null` without a census). */
  count: number | null;
  lastWriteAt: string | null;
}

/** The result of {@linkcode EpochAdmin.destroy}. */
export interface DestroyResult {
  epoch: number;
  destroyedAt: string;
  forced: boolean;
  chain: ChainOutcome;
  /**
   * `rotated`: the keystore moved to a fresh embedded seal key with the destruction, so an older
   * copy of the keystore cannot be opened any more. `supplied`: the seal key comes from
   * AGENTKEYS_SEAL_KEY and did not change — see `warning`.
   */
  sealKey: "rotated" | "supplied";
  /** Set when the forward-secrecy bound does not yet hold against backups. */
  warning?: string;
}

/**
 * What a destruction under a supplied seal key must say: the old key still opens any copy of the
 * keystore taken before it.
 */
export function suppliedSealKeyWarning(epoch: number): string {
  return `the seal key comes from AGENTKEYS_SEAL_KEY and was not changed: any copy of the ` +
    `keystore taken before this destruction (a backup) still opens epoch ${epoch} with it. ` +
    "Move to a new seal key (`deno task signer reseal --new-seal-key-file FILE`) and retire " +
    "the old one everywhere it is kept for the forward-secrecy bound to hold against backups";
}

/** One pending record's fate in {@linkcode EpochAdmin.reconcile}. */
export type ReconcileItem =
  | { record: PendingChainRecord; outcome: "recorded" }
  /** The recorder cannot read the counter, so a retry could advance it twice. */
  | { record: PendingChainRecord; outcome: "no_current_epoch" }
  /** The counter is past the keystore's active epoch: only a person can decide. */
  | { record: PendingChainRecord; outcome: "chain_ahead"; chainEpoch: number; active: number }
  | { record: PendingChainRecord; outcome: "failed"; error: string };

/** The result of {@linkcode EpochAdmin.reconcile}. */
export interface ReconcileResult {
  /** Pending records before the run. */
  pending: PendingChainRecord[];
  /** False when there is no recorder: nothing was attempted. */
  attempted: boolean;
  items: ReconcileItem[];
}

/** The epoch table with the latest censuses and the chain gaps (`GET /v1/epochs`). */
export interface EpochOverview {
  active: number;
  epochs: EpochInfo[];
  /** The latest census that counted the whole store (`null` when none, or not asked for). */
  latestGlobal: Census | null;
  /** The latest census that counted the asked operator's actors (when one was asked). */
  latestOperator: Census | null;
  pending: PendingChainRecord[];
}

const DEFAULT_NO_RECORDER = "no chain recorder is configured";

/** One queue for every EpochAdmin of this process. */
let processMutex: Promise<unknown> = Promise.resolve();

function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = processMutex.then(fn);
  processMutex = run.catch(() => {});
  return run;
}

/** Epoch administration; see the module doc. */
export class EpochAdmin {
  readonly #d: EpochAdminDeps;
  readonly #now: () => Date;

  constructor(deps: EpochAdminDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => new Date());
  }

  /** Whether chain steps can be attempted, and if not why. */
  get chainRecording(): { enabled: true } | { enabled: false; reason: string } {
    return this.#d.recorder
      ? { enabled: true }
      : { enabled: false, reason: this.#d.noRecorderReason ?? DEFAULT_NO_RECORDER };
  }

  /**
   * The epoch table (re-read: another process may have rotated), the latest global census
   * (unless `global: false`: the whole store's counts are for admins only), the latest census of
   * `operatorOmni` when given, and the pending chain records.
   */
  async overview(
    operatorOmni?: string,
    options: { global?: boolean } = {},
  ): Promise<EpochOverview> {
    await this.#d.keystore.reload();
    const [latestGlobal, latestOperator, pending] = await Promise.all([
      options.global === false ? null : this.#d.censusStore.latestGlobal(),
      operatorOmni === undefined ? null : this.#d.censusStore.latestFor(operatorOmni),
      this.#d.pending.list(),
    ]);
    return {
      active: this.#d.keystore.activeEpoch,
      epochs: this.#d.keystore.list(),
      latestGlobal,
      latestOperator,
      pending,
    };
  }

  /** The pending chain records. */
  pending(): Promise<PendingChainRecord[]> {
    return this.#d.pending.list();
  }

  /**
   * Activates the next epoch and records it on chain. Keystore failures (e.g. a tag collision)
   * throw; chain failures do not — they come back in `chain` and as a pending record.
   */
  rotate(options: { by?: string } = {}): Promise<RotateResult> {
    return exclusive(async () => {
      const { active, previous } = await this.#d.keystore.rotate({
        guard: censusRotateGuard({ censusStore: this.#d.censusStore }),
      });
      const at = this.#now().toISOString();
      const by = options.by === undefined ? {} : { by: options.by };
      const recorder = this.#d.recorder;
      if (!recorder) {
        const reason = this.#d.noRecorderReason ?? DEFAULT_NO_RECORDER;
        await this.#d.pending.add({
          kind: "advance_epoch",
          epoch: active,
          reason: "no_recorder",
          at,
        });
        await this.#d.audit.append("epoch_rotated", {
          active,
          previous,
          chain: "not_recorded",
          ...by,
        });
        return { active, previous, at, chain: { status: "not_recorded", reason } };
      }
      let recorded: { epoch: number; txHash: string };
      try {
        recorded = await recorder.advanceEpoch();
      } catch (e) {
        const error = (e as Error).message;
        await this.#d.pending.add({
          kind: "advance_epoch",
          epoch: active,
          reason: "recorder_failed",
          at,
          error,
        });
        await this.#d.audit.append("epoch_rotated", {
          active,
          previous,
          chain: "failed",
          error,
          ...by,
        });
        return { active, previous, at, chain: { status: "failed", error } };
      }
      const { epoch, txHash } = recorded;
      if (epoch !== active) {
        await this.#d.pending.add({
          kind: "advance_epoch",
          epoch: active,
          reason: "epoch_mismatch",
          at,
          chain_epoch: epoch,
        });
        await this.#d.audit.append("epoch_rotated", {
          active,
          previous,
          chain: "mismatch",
          chain_epoch: epoch,
          tx_hash: txHash,
          ...by,
        });
        return { active, previous, at, chain: { status: "mismatch", chainEpoch: epoch, txHash } };
      }
      await this.#d.audit.append("epoch_rotated", {
        active,
        previous,
        chain: "recorded",
        tx_hash: txHash,
        ...by,
      });
      return { active, previous, at, chain: { status: "recorded", txHash } };
    });
  }

  /**
   * Takes a census and saves it. `global` (default) counts the whole store (the only kind the
   * destroy guard accepts), and also `operatorOmni`'s actors when given; `operator` counts only
   * that operator's actors.
   */
  async census(
    options: { scope?: "global" | "operator"; operatorOmni?: string; signal?: AbortSignal } = {},
  ): Promise<Census> {
    await this.#d.keystore.reload();
    const census = await takeCensus({
      store: this.#d.store,
      keys: this.#d.keystore,
      scope: options.scope ?? "global",
      operatorOmni: options.operatorOmni,
      actors: options.operatorOmni === undefined ? undefined : this.#d.actors,
      concurrency: this.#d.censusConcurrency,
      signal: options.signal,
      now: this.#now,
    });
    await this.#d.censusStore.save(census);
    return census;
  }

  /**
   * Throws {@linkcode EpochNotFound} or {@linkcode EpochNotRetiring} unless `epoch` is retiring
   * (after re-reading the keystore).
   */
  async checkDestroyable(epoch: number): Promise<void> {
    await this.#d.keystore.reload();
    this.#assertRetiring(epoch);
  }

  /**
   * Erases a retiring epoch's key. Without `force`, the latest global census must prove it empty
   * (else {@linkcode EpochInUse}, audited as `epoch_destroy_refused`). With `force`, `onForce` is
   * called and `epoch_destroy_forced` audited before anything is erased. The chain step never
   * throws; see `chain`.
   */
  destroy(
    epoch: number,
    options: {
      force?: boolean;
      by?: string;
      /** Called before a forced destruction erases anything (the CLI prints its warning). */
      onForce?: (context: ForceContext) => void | Promise<void>;
    } = {},
  ): Promise<DestroyResult> {
    const force = options.force ?? false;
    const by = options.by === undefined ? {} : { by: options.by };
    return exclusive(async () => {
      await this.checkDestroyable(epoch);
      if (force) {
        const [census, lastWrite] = await Promise.all([
          this.#d.censusStore.latestGlobal(),
          this.#d.ledger.lastWrite(epoch),
        ]);
        const context: ForceContext = {
          epoch,
          census,
          count: census?.global?.[String(epoch)] ?? null,
          lastWriteAt: lastWrite?.toISOString() ?? null,
        };
        await options.onForce?.(context);
        await this.#d.audit.append("epoch_destroy_forced", {
          epoch,
          census_taken_at: census?.taken_at ?? null,
          census_count: context.count,
          last_write_at: context.lastWriteAt,
          ...by,
        });
      }
      let destroyedAt: string;
      try {
        const guard = force ? undefined : censusDestroyGuard({
          censusStore: this.#d.censusStore,
          ledger: this.#d.ledger,
        });
        destroyedAt = (await this.#d.keystore.destroy(epoch, { guard })).destroyedAt!;
      } catch (e) {
        if (e instanceof EpochInUse) {
          await this.#d.audit.append("epoch_destroy_refused", {
            epoch,
            reason: e.reason,
            count: e.count,
            census_taken_at: e.census?.taken_at ?? null,
            last_write_at: e.lastWriteAt,
            ...by,
          });
        }
        // Lost a race with another process: say what the epoch is now.
        if (e instanceof EpochStateError) this.#assertRetiring(epoch);
        throw e;
      }
      const seal = this.#d.keystore.sealKeyRotates
        ? { sealKey: "rotated" as const }
        : { sealKey: "supplied" as const, warning: suppliedSealKeyWarning(epoch) };
      await this.#d.audit.append("epoch_destroyed", {
        epoch,
        destroyed_at: destroyedAt,
        forced: force,
        seal_key: seal.sealKey,
        ...by,
      });
      const recorder = this.#d.recorder;
      if (!recorder) {
        await this.#d.pending.add({
          kind: "epoch_destroyed",
          epoch,
          reason: "no_recorder",
          at: destroyedAt,
        });
        const reason = this.#d.noRecorderReason ?? DEFAULT_NO_RECORDER;
        return {
          epoch,
          destroyedAt,
          forced: force,
          chain: { status: "not_recorded", reason },
          ...seal,
        };
      }
      try {
        const { txHash } = await recorder.recordEpochDestroyed(epoch);
        await this.#d.audit.append("epoch_destroyed_recorded", { epoch, tx_hash: txHash });
        return {
          epoch,
          destroyedAt,
          forced: force,
          chain: { status: "recorded", txHash },
          ...seal,
        };
      } catch (e) {
        const error = (e as Error).message;
        await this.#d.pending.add({
          kind: "epoch_destroyed",
          epoch,
          reason: "recorder_failed",
          at: destroyedAt,
          error,
        });
        await this.#d.audit.append("chain_record_failed", {
          kind: "epoch_destroyed",
          epoch,
          error,
        });
        return { epoch, destroyedAt, forced: force, chain: { status: "failed", error }, ...seal };
      }
    });
  }

  /** Records every pending chain record the recorder can; see {@linkcode ReconcileItem}. */
  reconcile(): Promise<ReconcileResult> {
    return exclusive(async () => {
      const pending = await this.#d.pending.list();
      const recorder = this.#d.recorder;
      if (pending.length === 0 || !recorder) return { pending, attempted: false, items: [] };
      await this.#d.keystore.reload();
      const items: ReconcileItem[] = [];
      for (const record of pending) {
        try {
          if (record.kind === "advance_epoch") {
            if (!recorder.currentEpoch) {
              items.push({ record, outcome: "no_current_epoch" });
              continue;
            }
            let chain = await recorder.currentEpoch();
            while (chain < record.epoch) chain = (await recorder.advanceEpoch()).epoch;
            const active = this.#d.keystore.activeEpoch;
            if (chain > active) {
              items.push({ record, outcome: "chain_ahead", chainEpoch: chain, active });
              continue;
            }
          } else {
            await recorder.recordEpochDestroyed(record.epoch);
          }
          await this.#d.pending.remove(record);
          await this.#d.audit.append("chain_reconciled", {
            kind: record.kind,
            epoch: record.epoch,
          });
          items.push({ record, outcome: "recorded" });
        } catch (e) {
          items.push({ record, outcome: "failed", error: (e as Error).message });
        }
      }
      return { pending, attempted: true, items };
    });
  }

  /**
   * After a crash between a keystore change and its chain step (the lifecycle scheduler's resume,
   * `lib/lifecycle`), the change may be neither on chain nor pending. Adds the pending record
   * when the chain shows the gap (or cannot be asked), then reconciles. A change already on
   * chain or already pending is left alone, so nothing is recorded twice.
   */
  async recoverInterrupted(
    kind: PendingChainRecord["kind"],
    epoch: number,
  ): Promise<ReconcileResult> {
    const pending = await this.#d.pending.list();
    if (!pending.some((p) => p.kind === kind && p.epoch === epoch)) {
      const recorder = this.#d.recorder;
      let onChain = false;
      if (kind === "advance_epoch" && recorder?.currentEpoch) {
        onChain = (await recorder.currentEpoch()) >= epoch;
      } else if (kind === "epoch_destroyed" && recorder?.epochInfo) {
        onChain = (await recorder.epochInfo(epoch)).destroyedAt > 0;
      } else if (recorder) {
        return { pending, attempted: false, items: [] }; // cannot tell: do not risk a second record
      }
      if (!onChain) {
        await this.#d.pending.add({
          kind,
          epoch,
          reason: recorder ? "recorder_failed" : "no_recorder",
          at: this.#now().toISOString(),
          error: "the process stopped before the chain step",
        });
      }
    }
    return await this.reconcile();
  }

  #assertRetiring(epoch: number): void {
    const state = this.#d.keystore.stateOf(epoch);
    if (state === undefined) throw new EpochNotFound(epoch);
    if (state !== "retiring") throw new EpochNotRetiring(epoch, state);
  }
}
