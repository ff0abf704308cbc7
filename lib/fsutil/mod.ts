/**
 * Small file-system helpers that several components need: atomic replacement of a file and
 * cross-process exclusive locks. Kept here so the keystore, the fs blob store and the broker's
 * key files make the same durability promise.
 *
 * @module
 */

import { dirname, join } from "node:path";

/**
 * Replaces `path` with `data` so that a reader sees either the old or the new bytes, never a mix:
 * write a temp file in the same directory, fsync it, rename it over the target, fsync the
 * directory (so the rename itself survives a crash).
 *
 * ```ts
 * await writeFileAtomic("./data/signer/keystore.json", bytes, { mode: 0o600 });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: { mode?: number; tmpDir?: string; syncDir?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(options.tmpDir ?? dir, `.tmp-${crypto.randomUUID()}`);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? 0o600 });
  try {
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  if (options.syncDir ?? true) await syncDir(dir);
}

/** Makes a rename durable: the new directory entry is on disk once this returns. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Runs `fn` while holding an exclusive `flock` on `lockPath` (created if missing), so two
 * processes that share a data directory never interleave their read-modify-write cycles.
 *
 * ```ts
 * await withFileLock("./data/signer/keystore.lock", async () => { ... });
 * ```
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(lockPath, { read: true, write: true, create: true, mode: 0o600 });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing the descriptor releases the lock
  }
}

/**
 * The file's text, or `undefined` when it does not exist (any other error is thrown).
 *
 * ```ts
 * const text = await readTextIfExists("./data/seal.key");
 * ```
 */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Whether something exists at `path` (errors other than "not found" are thrown). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
