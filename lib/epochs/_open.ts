/**
 * The components a headless command (`deno task reencrypt`, `deno task signer`) needs, built from
 * the configuration the way `lib/service` builds them for the server: the configured blob store,
 * the sealed keystore, and Deno KV state in the data directory (actor index, write ledger, census
 * snapshots, job records, audit log) with a {@linkcode JobRunner} over them.
 *
 * A headless command and a running service may share one data directory: the keystore, the fs
 * store and KV all coordinate across processes.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import { NoKeystore, openDataDir } from "../datadir/mod.ts";
import type { EpochKeystore } from "../signer/mod.ts";
import type { BlobStore } from "../store/mod.ts";
import {
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  KvJobStore,
  type KvStateStore,
  KvWriteLedger,
} from "../state/mod.ts";
import { type AgentRegistryReader, ChainActorDirectory, UnionActorDirectory } from "./actors.ts";
import { JobRunner, type JobRunnerDeps } from "./jobs.ts";
import type { EpochRecorder } from "./recorder.ts";
import type { ActorDirectory } from "./types.ts";

export { NoKeystore };

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
  /** Why `recorder` (or `agents`) is absent, in words for the operator. */
  reason?: string;
  /** Which chain this is, in words for the operator. */
  description: string;
  close(): Promise<void>;
}

/** Everything a headless command works with. */
export interface Headless {
  config: Config;
  store: BlobStore;
  keystore: EpochKeystore;
  state: KvStateStore;
  /** Chain ∪ KV index when the chain is reachable, else the KV index of actors seen writing. */
  actors: ActorDirectory;
  ledger: KvWriteLedger;
  censusStore: KvCensusStore;
  jobStore: KvJobStore;
  audit: KvAuditLog;
  runner: JobRunner;
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
}

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
    const kv = state.kv;
    const index = new KvActorIndex(kv);
    const actors = options.actors ??
      (chain?.agents
        ? new UnionActorDirectory([new ChainActorDirectory(chain.agents), index])
        : index);
    const ledger = new KvWriteLedger(kv);
    const jobStore = new KvJobStore(kv);
    const audit = new KvAuditLog(kv);
    const runner = new JobRunner({
      ...options.runner,
      jobs: jobStore,
      engine: { store, keys: keystore, actors, ledger },
      audit,
    });
    await runner.recoverAbandoned();
    const linked = chain;
    return {
      config,
      store,
      keystore,
      state,
      actors,
      ledger,
      censusStore: new KvCensusStore(kv),
      jobStore,
      audit,
      runner,
      chain: linked,
      async close() {
        await runner.close();
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
