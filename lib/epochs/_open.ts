/**
 * Opening the epoch components: {@linkcode openEpochs} wires the keystore, the blob store and the
 * KV state (actor index, write ledger, census snapshots, job records, pending chain records, audit
 * log) into an {@linkcode EpochAdmin} and a `JobRunner` — the one wiring the service and the
 * headless commands share. {@linkcode openHeadless} adds what a headless command (`deno task
 * reencrypt`, `deno task signer`) needs around it: the data directory and, optionally, the chain.
 *
 * A headless command and a running service may share one data directory: the keystore, the fs
 * store and KV all coordinate across processes.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import { openDataDir } from "../datadir/mod.ts";
import type { EpochKeystore } from "../signer/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import {
  type AuditLog,
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  KvChainPending,
  KvJobStore,
  type KvStateStore,
  KvWriteLedger,
} from "../state/mod.ts";
import { type ActorDirectory, JobRunner, type JobRunnerDeps } from "../reencrypt/mod.ts";
import { type AgentRegistryReader, ChainActorDirectory, UnionActorDirectory } from "./_actors.ts";
import { EpochAdmin } from "./_admin.ts";
import type { EpochRecorder } from "./_recorder.ts";

/** What {@linkcode openEpochs} wires together. */
export interface EpochsOptions {
  store: BlobStore;
  keystore: EpochKeystore;
  kv: Deno.Kv;
  /** Registered agents from the chain; absent: only the KV index of actors seen writing. */
  agents?: AgentRegistryReader;
  /** Replaces the actor directory built from `agents` and the KV index. */
  actors?: ActorDirectory;
  /** Default: the hash-chained log in `kv`. */
  audit?: AuditLog;
  /** Default: the write ledger in `kv`. */
  ledger?: KvWriteLedger;
  /** Records epoch changes on chain; absent: they are kept as pending chain records. */
  recorder?: EpochRecorder;
  /** Why there is no recorder, in words for the operator. */
  noRecorderReason?: string;
  /** Extra job runner settings. */
  runner?: Partial<Omit<JobRunnerDeps, "jobs" | "engine" | "audit">>;
}

/** The epoch components over one store, keystore and KV. */
export interface Epochs {
  /** Chain ∪ KV index when `agents` was given, else the KV index of actors seen writing. */
  actors: ActorDirectory;
  ledger: KvWriteLedger;
  censusStore: KvCensusStore;
  jobStore: KvJobStore;
  audit: AuditLog;
  runner: JobRunner;
  admin: EpochAdmin;
}

/**
 * Wires the epoch components and recovers jobs a dead process left running. Close the runner
 * (`runner.close()`) before closing KV.
 *
 * ```ts
 * const epochs = await openEpochs({ store, keystore, kv: state.kv, agents: chain.client, recorder: chain.client });
 * await epochs.admin.rotate();
 * ```
 */
export async function openEpochs(options: EpochsOptions): Promise<Epochs> {
  const { store, keystore, kv } = options;
  const actors = options.actors ??
    (options.agents
      ? new UnionActorDirectory([new ChainActorDirectory(options.agents), new KvActorIndex(kv)])
      : new KvActorIndex(kv));
  const ledger = options.ledger ?? new KvWriteLedger(kv);
  const audit = options.audit ?? new KvAuditLog(kv);
  const censusStore = new KvCensusStore(kv);
  const jobStore = new KvJobStore(kv);
  const runner = new JobRunner({
    ...options.runner,
    jobs: jobStore,
    engine: { store, keys: keystore, actors, ledger },
    audit,
  });
  await runner.recoverAbandoned();
  const admin = new EpochAdmin({
    keystore,
    store,
    censusStore,
    ledger,
    audit,
    pending: new KvChainPending(kv),
    recorder: options.recorder,
    noRecorderReason: options.recorder ? undefined : options.noRecorderReason,
    actors,
  });
  return { actors, ledger, censusStore, jobStore, audit, runner, admin };
}

/**
 * The identity chain as a headless command reaches it. `lib/service`'s `connectHeadlessChain`
 * builds one from the configuration (the running service's embedded anvil, or the external
 * chain); this component only uses its structural parts, so it does not import `lib/chain`.
 */
export interface HeadlessChain {
  /** Records epoch changes on chain; absent when this process cannot (see `reason`). */
  recorder?: EpochRecorder;
  /** Lists an operator's registered agents; absent when the chain is not reachable. */
  agents?: AgentRegistryReader;
  /** The chain's latest audit anchor (`deno task signer audit-verify`); absent when unreachable. */
  anchors?: { latestAnchor(): Promise<{ head: string; count: number }> };
  /** Why `recorder` (or `agents`) is absent, in words for the operator. */
  reason?: string;
  /** Which chain this is, in words for the operator. */
  description: string;
  close(): Promise<void>;
}

/** Everything a headless command works with. */
export interface Headless extends Epochs {
  config: Config;
  store: BlobStore;
  keystore: EpochKeystore;
  state: KvStateStore;
  /** The chain, when a `chain` connector was given (it may still lack a recorder). */
  chain?: HeadlessChain;
  /** Cancels running jobs, then closes KV, the store and the chain connection. */
  close(): Promise<void>;
}

/** Options of {@linkcode openHeadless}. */
export interface HeadlessOptions {
  /** Create the data directory and keystore when missing (tests, first start). Default false. */
  create?: boolean;
  /** Wraps the configured store (tests inject faults here). */
  wrapStore?: (store: BlobStore) => BlobStore;
  /** Replaces the actor directory. */
  actors?: ActorDirectory;
  /**
   * Connects to the identity chain (`connectHeadlessChain` from `lib/service`, as the
   * `deno task` scripts do). Absent: no chain — nothing is recorded on chain and actors come
   * from the KV index only.
   */
  chain?: (config: Config) => Promise<HeadlessChain>;
  /** Extra job runner settings. */
  runner?: Partial<Omit<JobRunnerDeps, "jobs" | "engine" | "audit">>;
  /** Records epoch changes on chain instead of the chain connector's recorder. */
  recorder?: EpochRecorder;
  /** Replaces the KV audit log. */
  audit?: AuditLog;
}

/** Why nothing is recorded when neither the caller nor the chain connector has a recorder. */
const NO_RECORDER = "no chain recorder is configured in this headless command";

/**
 * Opens the configured store, keystore and KV state (`lib/datadir`, as the service does), the
 * chain when a connector is given, and recovers jobs a dead process left running. Throws
 * {@linkcode NoKeystore} when the data directory has no keystore (unless `create`).
 *
 * ```ts
 * const h = await openHeadless(loadConfig(Deno.env.toObject()));
 * try {
 *   const job = await h.runner.start({ operator_omni, old_epoch: 1, new_epoch: 2 });
 * } finally {
 *   await h.close();
 * }
 * ```
 */
export async function openHeadless(
  config: Config,
  options: HeadlessOptions = {},
): Promise<Headless> {
  const core = await openDataDir(config, {
    create: options.create ?? false,
    wrapStore: options.wrapStore,
  });
  let chain: HeadlessChain | undefined;
  try {
    chain = await options.chain?.(config);
    const { store, keystore, state } = core;
    const recorder = options.recorder ?? chain?.recorder;
    const epochs = await openEpochs({
      store,
      keystore,
      kv: state.kv,
      agents: chain?.agents,
      actors: options.actors,
      audit: options.audit,
      recorder,
      noRecorderReason: chain?.reason ?? NO_RECORDER,
      runner: options.runner,
    });
    const linked = chain;
    return {
      ...epochs,
      config,
      store,
      keystore,
      state,
      chain: linked,
      async close() {
        await epochs.runner.close();
        await core.close();
        await linked?.close();
      },
    };
  } catch (err) {
    await core.close();
    await chain?.close();
    throw err;
  }
}
