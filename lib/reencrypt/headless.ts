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

import { join, resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import { EpochKeystore, KEYSTORE_FILE, loadSealKey } from "../signer/mod.ts";
import { type BlobStore, FsBlobStore, S3BlobStore } from "../store/mod.ts";
import {
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  KvJobStore,
  KvStateStore,
  KvWriteLedger,
} from "../state/mod.ts";
import { JobRunner, type JobRunnerDeps } from "./jobs.ts";
import type { ActorDirectory } from "./types.ts";

/** Everything a headless command works with. */
export interface Headless {
  config: Config;
  store: BlobStore;
  keystore: EpochKeystore;
  state: KvStateStore;
  /** In-process: the KV index of actors seen writing. The chain directory replaces it later. */
  actors: ActorDirectory;
  ledger: KvWriteLedger;
  censusStore: KvCensusStore;
  jobStore: KvJobStore;
  audit: KvAuditLog;
  runner: JobRunner;
  /** Cancels running jobs, then closes KV and the store. */
  close(): Promise<void>;
}

/** A keystore was expected in the data directory and is not there. */
export class NoKeystore extends Error {
  readonly code = "no_keystore";
  constructor(path: string) {
    super(
      `no keystore at ${path}: start the service once (deno task start) or set AGENTKEYS_DATA_DIR`,
    );
    this.name = "NoKeystore";
  }
}

/** Options of {@linkcode openHeadless}. */
export interface HeadlessOptions {
  /** Create the data directory and keystore when missing (tests, first start). Default false. */
  create?: boolean;
  /** Wraps the configured store (tests inject faults here). */
  wrapStore?: (store: BlobStore) => BlobStore;
  /** Replaces the KV actor index. */
  actors?: ActorDirectory;
  /** Extra job runner settings. */
  runner?: Partial<Omit<JobRunnerDeps, "jobs" | "engine" | "audit">>;
}

/**
 * Opens the configured store, keystore and KV state, and recovers jobs a dead process left
 * running. Throws {@linkcode NoKeystore} when the data directory has no keystore (unless
 * `create`).
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
  const dataDir = resolve(config.dataDir);
  const keystorePath = join(dataDir, KEYSTORE_FILE);
  if (!options.create && !(await exists(keystorePath))) throw new NoKeystore(keystorePath);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const sealKey = await loadSealKey({ configured: config.sealKey, dataDir, keystorePath });
  const keystore = await EpochKeystore.open({
    path: keystorePath,
    sealKey,
    create: options.create,
  });
  const base = await openStore(config, dataDir);
  const store = options.wrapStore ? options.wrapStore(base) : base;
  let state: KvStateStore | undefined;
  try {
    state = await KvStateStore.open(join(dataDir, "state.kv"));
    const kv = state.kv;
    const actors = options.actors ?? new KvActorIndex(kv);
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
    const opened = state;
    return {
      config,
      store,
      keystore,
      state: opened,
      actors,
      ledger,
      censusStore: new KvCensusStore(kv),
      jobStore,
      audit,
      runner,
      async close() {
        await runner.close();
        opened.close();
        await store.close();
      },
    };
  } catch (err) {
    state?.close();
    await store.close();
    throw err;
  }
}

async function openStore(config: Config, dataDir: string): Promise<BlobStore> {
  if (!config.s3) return new FsBlobStore(join(dataDir, "blobs"));
  const store = new S3BlobStore({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    bucket: config.s3.bucket,
    forcePathStyle: config.s3.forcePathStyle,
    credentials: config.s3.credentials,
  });
  await store.ensureBucket();
  return store;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
