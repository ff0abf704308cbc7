/**
 * The per-root state every {@linkcode FsBlobStore} on one directory shares within a process:
 * striped locks (in-process mutexes plus `flock` on lock files, so compare-and-swap holds across
 * processes too), the staging directory for temp files, and directories known to exist.
 *
 * @module
 */

import { InvalidKey } from "./_errors.ts";

/** Lock stripes per root: writers of different keys rarely wait for each other. */
const STRIPES = 64;
/** Temp files older than this are leftovers of a crash, removed when a store opens the root. */
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * What every store instance on one root directory shares within this process: the lock stripes,
 * the open lock files, and the directories known to exist.
 */
export class RootState {
  static #roots = new Map<string, RootState>();

  readonly staging: string;
  readonly locks: string;
  readonly ready: Promise<void>;
  readonly createdDirs = new Set<string>();
  #refs = 0;
  #mutexes = Array.from({ length: STRIPES }, () => new Mutex());
  #lockFiles = new Map<number, Promise<Deno.FsFile>>();

  private constructor(readonly root: string) {
    this.staging = `${root}.staging`;
    this.locks = `${root}.locks`;
    this.ready = this.#prepare();
    // A failed mkdir surfaces on the first operation; do not report it as unhandled here.
    this.ready.catch(() => {});
  }

  async #prepare(): Promise<void> {
    for (const dir of [this.root, this.staging, this.locks]) {
      await Deno.mkdir(dir, { recursive: true });
    }
    // rename() cannot cross file systems: a volume mounted exactly at the root would make every
    // write fail with EXDEV. Mount the parent instead (e.g. $DATA_DIR, not $DATA_DIR/blobs).
    const [root, staging] = await Promise.all([Deno.stat(this.root), Deno.stat(this.staging)]);
    if (root.dev !== staging.dev) {
      throw new Error(`${this.staging} and ${this.root} are on different file systems`);
    }
    this.createdDirs.add(this.root);
    await this.#sweepStaging();
  }

  /**
   * Removes temp files that a crashed writer left behind. Only old ones: a writer in another
   * process may be using a fresh one right now.
   */
  async #sweepStaging(): Promise<void> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    for await (const entry of Deno.readDir(this.staging)) {
      if (!entry.isFile || !entry.name.endsWith(".tmp")) continue;
      const path = `${this.staging}/${entry.name}`;
      const info = await Deno.lstat(path).catch(() => null);
      if (info?.mtime && info.mtime.getTime() < cutoff) await Deno.remove(path).catch(() => {});
    }
  }

  static acquire(root: string): RootState {
    let state = RootState.#roots.get(root);
    if (state === undefined) {
      state = new RootState(root);
      RootState.#roots.set(root, state);
    }
    state.#refs++;
    return state;
  }

  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    RootState.#roots.delete(this.root);
    // Let queued writes finish before their lock files go away.
    await Promise.all(this.#mutexes.map((mutex) => mutex.run(() => Promise.resolve())));
    const files = await Promise.allSettled(this.#lockFiles.values());
    for (const file of files) if (file.status === "fulfilled") file.value.close();
  }

  /** Runs `fn` holding the key's stripe: in this process, then across processes. */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const stripe = stripeOf(key);
    return this.#mutexes[stripe].run(async () => {
      const file = await this.#lockFile(stripe);
      await file.lock(true);
      try {
        return await fn();
      } finally {
        await file.unlock();
      }
    });
  }

  /** Creates `dir` (a parent of `key`'s file) unless this process already knows it exists. */
  async ensureDir(key: string, dir: string): Promise<void> {
    if (this.createdDirs.has(dir)) return;
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (err) {
      // A file stands where a directory of the key should be ("a" exists, writing "a/b").
      if (err instanceof Deno.errors.AlreadyExists || err instanceof Deno.errors.NotADirectory) {
        throw new InvalidKey(key);
      }
      throw err;
    }
    this.createdDirs.add(dir);
  }

  /** Opened on first use and kept: opening per write would cost two syscalls each time. */
  #lockFile(stripe: number): Promise<Deno.FsFile> {
    let file = this.#lockFiles.get(stripe);
    if (file === undefined) {
      const path = `${this.locks}/${stripe}.lock`;
      file = Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
      this.#lockFiles.set(stripe, file);
    }
    return file;
  }
}

/** A FIFO async mutex. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise((resolve) => (release = resolve));
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** FNV-1a over the key's UTF-16 units: cheap and evenly spread. */
function stripeOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % STRIPES;
}
