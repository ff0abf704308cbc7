/**
 * The data directory's shared components, opened the same way by the service (`lib/service`) and
 * the headless commands (`lib/reencrypt/headless.ts`): the seal key, the sealed K3 keystore, the
 * configured blob store and the Deno KV state file. Nothing here knows about HTTP, the chain or
 * jobs, so both sides can build on it without importing each other.
 *
 * ```ts
 * const core = await openDataDir(loadConfig(Deno.env.toObject()), { create: true });
 * try {
 *   console.log(core.keystore.activeEpoch, core.store.kind);
 * } finally {
 *   await core.close();
 * }
 * ```
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import { EpochKeystore, KEYSTORE_FILE, loadSealKey } from "../signer/mod.ts";
import { type BlobStore, FsBlobStore, S3BlobStore } from "../store/mod.ts";
import { KvStateStore } from "../state/mod.ts";
import { pathExists } from "../fsutil/mod.ts";

/** The state file inside the data directory. */
export const STATE_FILE = "state.kv";

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

/** What {@linkcode openDataDir} opens. */
export interface DataDirCore {
  config: Config;
  /** The data directory, absolute. */
  dataDir: string;
  /** Seals the keystore and the broker keyrings. */
  sealKey: Uint8Array;
  keystore: EpochKeystore;
  /** The configured store (wrapped, when `wrapStore` was given). */
  store: BlobStore;
  state: KvStateStore;
  /** Closes KV and the store (the keystore holds no open handles). */
  close(): Promise<void>;
}

/** Options of {@linkcode openDataDir}. */
export interface OpenDataDirOptions {
  /**
   * Create the data directory and a keystore (epoch 1 active) when missing. The service does;
   * the headless commands refuse with {@linkcode NoKeystore} instead. Default true.
   */
  create?: boolean;
  /** Wraps the configured store (tests inject faults here). */
  wrapStore?: (store: BlobStore) => BlobStore;
}

/**
 * Opens the seal key, the keystore, the blob store and KV state of `config.dataDir`. Whatever
 * was opened is closed again when a later step fails.
 */
export async function openDataDir(
  config: Config,
  options: OpenDataDirOptions = {},
): Promise<DataDirCore> {
  const create = options.create ?? true;
  const dataDir = resolve(config.dataDir);
  const keystorePath = join(dataDir, KEYSTORE_FILE);
  if (!create && !(await pathExists(keystorePath))) throw new NoKeystore(keystorePath);
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const sealKey = await loadSealKey({ configured: config.sealKey, dataDir, keystorePath });
  const keystore = await EpochKeystore.open({ path: keystorePath, sealKey, create });
  const base = await openStore(config, dataDir);
  const store = options.wrapStore ? options.wrapStore(base) : base;
  let state: KvStateStore;
  try {
    state = await KvStateStore.open(join(dataDir, STATE_FILE));
  } catch (err) {
    await store.close();
    throw err;
  }
  return {
    config,
    dataDir,
    sealKey,
    keystore,
    store,
    state,
    async close() {
      state.close();
      await store.close();
    },
  };
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
