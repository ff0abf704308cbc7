/**
 * The embedded default store: a directory on local disk with the S3 object layout
 * (ARCHITECTURE §5). Object `K` is the plain file `<root>/K`.
 *
 * - **Atomic writes.** Bytes go to a temp file in `<root>.staging/` (a sibling of the root: on the
 *   same file system, which is checked, yet never inside the listed tree), are fsynced, and the
 *   file is renamed over `<root>/K`; the parent directory is fsynced too. A reader sees the old
 *   object or the new one, never part of one. A crash leaves at most a temp file, removed once it
 *   is an hour old by the next store that opens the root.
 * - **Etag** = SHA-256 of the bytes, lowercase hex, no quotes. Object files are never modified in
 *   place (only replaced by rename), so an open handle always reads one whole version. Only `get`
 *   (which reads every byte anyway) and `put` give an etag: `head`, `getRange` and listings read
 *   no byte they were not asked for, so a census reads one byte per blob.
 * - **Compare-and-swap.** Every write and delete of `K` runs under a lock striped by key: an async
 *   mutex shared by all instances on the same root in this process, then an exclusive `flock` on
 *   `<root>.locks/<stripe>.lock` so writers in other processes sharing the directory wait too.
 *   Inside the lock a conditional write re-reads and hashes the current object, so the check is
 *   always against the bytes on disk.
 * - **Listing** walks the tree depth-first, each directory sorted so keys come out in UTF-8 byte
 *   order like S3; only one directory's names per level are held in memory.
 *
 * Known difference from S3: a file cannot also be a directory, so `a` and `a/b` cannot both be
 * keys; writing the second throws {@linkcode InvalidKey}.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, resolve } from "node:path";
import { syncDir } from "../fsutil/mod.ts";
import type {
  BlobInfo,
  BlobStore,
  ListOptions,
  PutConditions,
  RangeBlob,
  StoredBlob,
} from "./_types.ts";
import { InvalidKey, PreconditionFailed, StoreError, StoreUnavailable } from "./_errors.ts";
import {
  compareKeys,
  isValidKey,
  pageSizeOf,
  validateConditions,
  validateKey,
  validatePrefix,
  validateRange,
} from "./_key.ts";
import { RootState } from "./_fs_root.ts";

/**
 * A blob store on a local directory.
 *
 * @example
 * ```ts
 * const store = new FsBlobStore(`${dataDir}/blobs`);
 * const { etag } = await store.put("bots/a1/credentials/github.enc", bytes, { ifNoneMatch: "*" });
 * await store.put("bots/a1/credentials/github.enc", newer, { ifMatch: etag }); // CAS
 * await store.close();
 * ```
 */
export class FsBlobStore implements BlobStore {
  readonly kind = "fs" as const;
  /** The absolute directory that holds the objects. */
  readonly root: string;
  #state: RootState;
  #closed = false;

  /** `rootDir` and its siblings `<rootDir>.staging` and `<rootDir>.locks` are created lazily. */
  constructor(rootDir: string) {
    this.root = resolve(rootDir);
    if (this.root === dirname(this.root)) {
      throw new TypeError("FsBlobStore needs a directory below the file-system root");
    }
    this.#state = RootState.acquire(this.root);
  }

  async get(key: string): Promise<StoredBlob | null> {
    validateKey(key);
    await this.#ready();
    return await fsErrors("get", key, async () => {
      // One read op (open, stat, read, close in one call): this is the hot path of every fetch.
      const body = await readObject(this.#path(key));
      return body === null ? null : withLazyEtag(body);
    });
  }

  async getRange(key: string, start: number, end: number): Promise<RangeBlob | null> {
    validateKey(key);
    validateRange(start, end);
    await this.#ready();
    return await fsErrors("getRange", key, async () => {
      const file = await openObject(this.#path(key));
      if (file === null) return null;
      try {
        const info = await file.stat();
        if (!info.isFile) return null;
        // Like S3, a range past the end is cut at the end; one starting past it is empty.
        const last = Math.min(end, info.size - 1);
        let body: Uint8Array = new Uint8Array(0);
        if (start <= last) {
          await file.seek(start, Deno.SeekMode.Start);
          body = await readExactly(file, last - start + 1);
        }
        return { body, size: info.size };
      } finally {
        file.close();
      }
    });
  }

  async head(key: string): Promise<BlobInfo | null> {
    validateKey(key);
    await this.#ready();
    return await fsErrors("head", key, async () => {
      try {
        const info = await Deno.stat(this.#path(key));
        if (!info.isFile) return null;
        return { key, size: info.size, lastModified: info.mtime ?? new Date(0) };
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    });
  }

  async put(key: string, body: Uint8Array, conditions?: PutConditions): Promise<{ etag: string }> {
    validateKey(key);
    validateConditions(conditions);
    const state = await this.#ready();
    const etag = sha256(body);
    return await fsErrors("put", key, () =>
      state.exclusive(key, async () => {
        const path = this.#path(key);
        if (conditions?.ifNoneMatch === "*" && (await objectExists(path))) {
          throw new PreconditionFailed(key);
        }
        if (conditions?.ifMatch !== undefined) {
          const current = await hashObject(path);
          if (current !== conditions.ifMatch) throw new PreconditionFailed(key);
        }
        await this.#writeAtomically(key, path, body);
        return { etag };
      }));
  }

  async delete(key: string, conditions?: { ifMatch?: string }): Promise<boolean> {
    validateKey(key);
    const state = await this.#ready();
    return await fsErrors("delete", key, () =>
      state.exclusive(key, async () => {
        const path = this.#path(key);
        // Deno.remove would also remove an empty directory: only files are objects.
        if (!(await objectExists(path))) return false;
        // Under the same striped lock as put's compare-and-swap.
        if (conditions?.ifMatch !== undefined && (await hashObject(path)) !== conditions.ifMatch) {
          throw new PreconditionFailed(key);
        }
        try {
          await Deno.remove(path);
          return true;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) return false;
          throw err;
        }
      }));
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    validatePrefix(prefix);
    const pageSize = pageSizeOf(options);
    const startAfter = options?.startAfter;
    await this.#ready();
    // Start at the deepest directory the prefix names in full; the rest of the prefix (part of
    // one name) filters that directory's entries.
    const cut = prefix.lastIndexOf("/") + 1;
    const keys = this.#walk(prefix.slice(0, cut), prefix.slice(cut), startAfter);
    // Keys are stat'ed a page at a time: memory stays bounded by pageSize, and the stats of a page
    // run concurrently.
    let page: string[] = [];
    for await (const key of keys) {
      page.push(key);
      if (page.length === pageSize) {
        yield* await this.#describe(page);
        page = [];
      }
    }
    if (page.length > 0) yield* await this.#describe(page);
  }

  /** Waits for in-flight writes of this process on the root, then releases the lock files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#state.release();
  }

  async #ready(): Promise<RootState> {
    if (this.#closed) throw new StoreUnavailable(`the fs store at ${this.root} is closed`);
    try {
      await this.#state.ready;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreUnavailable(`fs store: cannot use ${this.root}: ${reason}`, { cause: err });
    }
    return this.#state;
  }

  #path(key: string): string {
    return `${this.root}/${key}`;
  }

  /** Temp file, write, fsync, rename over the object, fsync the directory. Runs under the lock. */
  async #writeAtomically(key: string, path: string, body: Uint8Array): Promise<void> {
    const state = this.#state;
    const temp = `${state.staging}/${crypto.randomUUID()}.tmp`;
    let renamed = false;
    try {
      const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
      try {
        await writeAll(file, body);
        await file.sync();
      } finally {
        file.close();
      }
      const dir = dirname(path);
      await state.ensureDir(key, dir);
      try {
        await Deno.rename(temp, path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        // The directory was removed behind our back (our cache said it existed): recreate once.
        state.createdDirs.delete(dir);
        await state.ensureDir(key, dir);
        await Deno.rename(temp, path);
      }
      renamed = true;
      await syncDir(dir);
    } catch (err) {
      if (err instanceof Deno.errors.IsADirectory) throw new InvalidKey(key);
      throw err;
    } finally {
      if (!renamed) await Deno.remove(temp).catch(() => {});
    }
  }

  /** Valid keys below directory `dirKey` ("" or ending in "/"), in UTF-8 byte order. */
  async *#walk(dirKey: string, fragment: string, startAfter?: string): AsyncGenerator<string> {
    const entries: { name: string; sortName: string; isDir: boolean }[] = [];
    try {
      for await (const entry of Deno.readDir(`${this.root}/${dirKey}`)) {
        // Symlinks are skipped: following one could leave the root.
        if (!entry.isFile && !entry.isDirectory) continue;
        if (!entry.name.startsWith(fragment)) continue;
        // A directory sorts as "name/": every key inside it starts that way.
        const sortName = entry.isDirectory ? `${entry.name}/` : entry.name;
        entries.push({ name: entry.name, sortName, isDir: entry.isDirectory });
      }
    } catch (err) {
      // Nothing under this prefix, or a file where the prefix wants a directory.
      if (isMissing(err)) return;
      throw err;
    }
    entries.sort((a, b) => compareKeys(a.sortName, b.sortName));
    for (const entry of entries) {
      const key = dirKey + entry.sortName;
      if (entry.isDir) {
        // Skip a subtree whose keys all sort at or before startAfter.
        if (
          startAfter !== undefined && compareKeys(key, startAfter) < 0 &&
          !startAfter.startsWith(key)
        ) continue;
        // Names no key could have (written by something else) are not objects of this store.
        if (!isValidKey(`${key}x`)) continue;
        yield* this.#walk(key, "", startAfter);
      } else {
        if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
        if (!isValidKey(key)) continue;
        yield key;
      }
    }
  }

  async #describe(keys: string[]): Promise<BlobInfo[]> {
    const infos = await Promise.all(keys.map(async (key): Promise<BlobInfo | null> => {
      try {
        const info = await Deno.lstat(this.#path(key));
        if (!info.isFile) return null;
        return { key, size: info.size, lastModified: info.mtime ?? new Date(0) };
      } catch (err) {
        // Deleted since the directory was read: S3 listings are not snapshots either.
        if (err instanceof Deno.errors.NotFound) return null;
        throw err;
      }
    }));
    return infos.filter((info) => info !== null);
  }
}

/**
 * A read's answer whose etag is hashed on first use: most readers (every fetch) never look at
 * it, and the integrity check hashes the bytes itself.
 */
function withLazyEtag(body: Uint8Array): StoredBlob {
  let etag: string | undefined;
  return {
    body,
    get etag() {
      return etag ??= sha256(body);
    },
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The etag of the object file at `path`, or `null` when there is none. */
async function hashObject(path: string): Promise<string | null> {
  // One read call: this runs under the lock on every compare-and-swap.
  const body = await readObject(path);
  return body === null ? null : sha256(body);
}

/** The object file's bytes in one read call; `null` when there is no object at `path`. */
async function readObject(path: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    // A directory (key `a` where `a/b` exists) is not an object either.
    if (isMissing(err) || err instanceof Deno.errors.IsADirectory) return null;
    throw err;
  }
}

/** "No such object": the path, or one of its parents as a directory, does not exist. */
function isMissing(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory;
}

/** Opens an object file for reading; `null` when missing (or a parent is a file). */
async function openObject(path: string): Promise<Deno.FsFile | null> {
  try {
    return await Deno.open(path, { read: true });
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

async function objectExists(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isFile;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

async function readExactly(file: Deno.FsFile, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break; // cannot happen for an unchanged file; return what exists
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/** Runs an fs operation; unexpected I/O errors become {@linkcode StoreUnavailable}. */
async function fsErrors<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StoreError || err instanceof TypeError || err instanceof RangeError) {
      throw err;
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new StoreUnavailable(`fs store: ${operation} ${key} failed: ${reason}`, { cause: err });
  }
}
