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
import {
  EpochKeystore,
  KEYSTORE_FILE,
  resealFiles,
  type RotationStep,
  SealKey,
} from "../signer/mod.ts";
import { type BlobStore, FsBlobStore, S3BlobStore } from "../store/mod.ts";
import { KvPointerStore, KvStateStore } from "../state/mod.ts";
import { IntegrityStore, pointerLeaf } from "../integrity/mod.ts";
import { defaultIntegrityPolicy } from "../config/mod.ts";
import { pathExists } from "../fsutil/mod.ts";
import { NoKeystore, sealedFiles, STATE_FILE, withKeystoreLock } from "./_files.ts";

export { KEYRING_FILES } from "./_files.ts";

/** What {@linkcode openDataDir} opens. */
export interface DataDirCore {
  config: Config;
  /** The data directory, absolute. */
  dataDir: string;
  /**
   * Seals the keystore and the broker keyrings. On the embedded default it changes whenever an
   * epoch is destroyed: hand this object (not its bytes) to whatever seals.
   */
  sealKey: SealKey;
  keystore: EpochKeystore;
  /**
   * The configured store (wrapped, when `wrapStore` was given) inside the {@linkcode
   * IntegrityStore}: every write records a pointer, every full read is checked.
   */
  store: IntegrityStore;
  /** The pointer records the store keeps (lib/integrity builds the Merkle tree from them). */
  pointers: KvPointerStore;
  state: KvStateStore;
  /** Closes KV and the store (the keystore holds no open handles). */
  close(): Promise<void>;
}

/** Options of {@linkcode openDataDir}. */
interface OpenDataDirOptions {
  /**
   * Create the data directory and a keystore (epoch 1 active) when missing. The service does;
   * the headless commands refuse with {@linkcode NoKeystore} instead. Default true.
   */
  create?: boolean;
  /** Wraps the configured store (tests inject faults here). */
  wrapStore?: (store: BlobStore) => BlobStore;
  /** Tests: simulate a crash during a seal key rotation (see `SealKey`). */
  crashAfter?: (step: RotationStep) => void;
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
  // Also when it existed (created by hand, or by an older version): the state file holds every
  // tenant's object keys and the audit log, so nothing in here is for other local users.
  await Deno.chmod(dataDir, 0o700);
  const sealKey = await SealKey.load({
    configured: config.sealKey,
    dataDir,
    keystorePath,
    files: sealedFiles(dataDir),
    crashAfter: options.crashAfter,
  });
  // A seal key rotation interrupted by a crash is finished before anything reads a sealed file.
  if (sealKey.pending) await withKeystoreLock(dataDir, () => sealKey.recover());
  const keystore = await EpochKeystore.open({ path: keystorePath, sealKey, create });
  const base = await openStore(config, dataDir);
  const inner = options.wrapStore ? options.wrapStore(base) : base;
  let state: KvStateStore;
  try {
    state = await KvStateStore.open(await privateFile(join(dataDir, STATE_FILE)));
  } catch (err) {
    await inner.close();
    throw err;
  }
  const pointers = new KvPointerStore(state.kv, { leafOf: pointerLeaf, changes: state.changes });
  // Every writer and reader of blobs (service and headless commands) goes through this.
  const store = new IntegrityStore(inner, {
    pointers,
    mode: (config.integrity ?? defaultIntegrityPolicy()).mode,
    epochForTag: (tag) => keystore.epochForTag(tag),
    writeBlock: () => pointers.writeBlock(),
    warn: (message) => console.warn(message),
  });
  return {
    config,
    dataDir,
    sealKey,
    keystore,
    store,
    pointers,
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

/** What {@linkcode resealDataDir} did. */
interface ResealResult {
  /** `rotated`: the embedded `seal.key` was replaced; `supplied`: moved to the given new key. */
  mode: "rotated" | "supplied";
  /** Sealed files re-sealed now. */
  resealed: string[];
  /** Files already under the new key (a re-run after an interrupted reseal). */
  already: string[];
}

/**
 * Moves every sealed file of the data directory (keystore, broker keyrings) to a new seal key,
 * under the keystore lock. With a supplied seal key (`config.sealKey`, the old one) `newKey` is
 * required and every file is checked before anything is written: a wrong old key throws
 * `KeystoreUnsealFailed` and rewrites nothing. On the embedded default `newKey` must be absent:
 * `seal.key` is rotated with the crash-safe protocol of `lib/signer/_seal_key.ts`.
 *
 * ```ts
 * await resealDataDir(loadConfig(Deno.env.toObject()), { newKey });
 * ```
 */
export async function resealDataDir(
  config: Config,
  options: { newKey?: Uint8Array } = {},
): Promise<ResealResult> {
  const dataDir = resolve(config.dataDir);
  const keystorePath = join(dataDir, KEYSTORE_FILE);
  if (!(await pathExists(keystorePath))) throw new NoKeystore(keystorePath);
  const files = sealedFiles(dataDir);
  if (config.sealKey) {
    if (!options.newKey) throw new TypeError("a supplied seal key needs the new key");
    const newKey = options.newKey;
    const r = await withKeystoreLock(dataDir, () => resealFiles(files, config.sealKey!, newKey));
    return { mode: "supplied", ...r };
  }
  if (options.newKey) {
    throw new TypeError("the embedded seal key is replaced by a generated one; give no new key");
  }
  const sealKey = await SealKey.load({ dataDir, keystorePath, files });
  await withKeystoreLock(dataDir, async () => {
    await sealKey.recover();
    await sealKey.rotate();
  });
  const existing = [];
  for (const f of files) if (await pathExists(f.path)) existing.push(f.path);
  return { mode: "rotated", resealed: existing, already: [] };
}

/**
 * `path`, created empty with mode 0600 if missing (an empty file is an empty SQLite database, and
 * SQLite gives its -wal and -shm files the database file's mode), else chmod 0600.
 */
async function privateFile(path: string): Promise<string> {
  try {
    (await Deno.open(path, { createNew: true, write: true, mode: 0o600 })).close();
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    await Deno.chmod(path, 0o600);
  }
  return path;
}
