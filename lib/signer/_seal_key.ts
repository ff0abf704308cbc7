/**
 * Where the seal key comes from, and how it is replaced. Production supplies it
 * (AGENTKEYS_SEAL_KEY, or a KMS/TEE behind the same class); the embedded default keeps a 0600 file
 * `seal.key` in the data directory so that `deno task start` works on a fresh machine.
 *
 * **Forward secrecy against copies.** Destroying an epoch erases its key from the keystore, but
 * an old copy of the keystore file (a backup) still holds it, sealed. On the embedded default the
 * seal key sits beside the keystore, so every destruction also moves every sealed file to a
 * fresh seal key ({@linkcode SealKey.rotate}) and scrubs the old one: an old copy of the keystore
 * then needs a seal key that no longer exists anywhere. With a supplied key this is the
 * operator's job (`deno task signer reseal`, then retire the old key).
 *
 * **Rotation protocol** (embedded). `seal.key` = S (old), `seal.key.next` = N (new). Every step
 * is atomic on its own (temp file, fsync, rename, fsync of the directory), and it all runs under
 * the keystore's file lock:
 *
 * 1. write N;
 * 2. re-seal every other sealed file (the broker keyrings) under N, each under its own lock;
 * 3. re-seal the keystore under N (for a destruction: the keystore without the epoch's key);
 * 4. overwrite S's bytes in place and fsync (the old key's bytes leave the disk);
 * 5. rename N over S and fsync the directory.
 *
 * At every instant each sealed file opens under S or under N, and both files are read as
 * candidates (N first). A crash leaves N behind; the next {@linkcode SealKey.recover} (run by
 * `openDataDir` under the keystore lock) rolls forward: every file that opens only under S is
 * re-sealed under N, then steps 4–5 run. While N exists, writers seal under N, so nothing new
 * is written under the key that is about to disappear.
 *
 * @module
 */

import { join } from "node:path";
import { openSecret, sealSecret } from "../crypto/mod.ts";
import { KeystoreError, KeystoreUnsealFailed } from "./_errors.ts";
import {
  pathExists,
  readTextIfExists,
  syncDir,
  withFileLock,
  writeFileAtomic,
} from "../fsutil/mod.ts";

/** The seal key file in the data directory (embedded default only). */
export const SEAL_KEY_FILE = "seal.key";
/** The next seal key while a rotation is in progress (or was interrupted). */
export const SEAL_KEY_NEXT_FILE = "seal.key.next";

/**
 * A JSON file holding `{"sealed": base64, …}` sealed under the seal key, with `aad` naming its
 * purpose. `lock`: the lock file its writers hold (absent: the caller holds the right lock).
 */
export interface SealedFile {
  path: string;
  aad: Uint8Array;
  lock?: string;
}

/** Steps of {@linkcode SealKey.rotate}, for tests that simulate a crash after one of them. */
export type RotationStep = "next_written" | "others_resealed" | "self_resealed" | "old_scrubbed";

/** Options of {@linkcode SealKey.load}. */
export interface LoadSealKeyOptions {
  /** The supplied key (AGENTKEYS_SEAL_KEY); absent: the embedded `seal.key`. */
  configured?: Uint8Array;
  dataDir: string;
  keystorePath: string;
  /** Every file sealed under this key, the keystore included. */
  files?: SealedFile[];
  /** Tests: throw from here to simulate a crash right after `step`. */
  crashAfter?: (step: RotationStep) => void;
}

/**
 * The seal key as the keystore and the broker keyrings use it: the current key, and on the
 * embedded default a pending next key (see the module doc).
 *
 * ```ts
 * const seal = await SealKey.load({ dataDir, keystorePath, files });
 * const sealed = seal.seal(aad, bytes);
 * const back = await seal.open(aad, sealed);
 * ```
 */
export class SealKey {
  #current?: Uint8Array;
  #next?: Uint8Array;
  readonly #dir?: string;
  readonly #files: SealedFile[];
  readonly #crashAfter?: (step: RotationStep) => void;

  private constructor(
    current: Uint8Array | undefined,
    options: { dir?: string; files?: SealedFile[]; crashAfter?: (step: RotationStep) => void },
  ) {
    this.#current = current;
    this.#dir = options.dir;
    this.#files = options.files ?? [];
    this.#crashAfter = options.crashAfter;
  }

  /** A key that never changes in this process (AGENTKEYS_SEAL_KEY, tests). Copies `key`. */
  static fixed(key: Uint8Array, files: SealedFile[] = []): SealKey {
    if (key.length !== 32) throw new TypeError("the seal key must be 32 bytes");
    return new SealKey(key.slice(), { files });
  }

  /**
   * The configured key, or the embedded `seal.key` of `dataDir` (created when neither it nor a
   * keystore exists). Refuses to invent a new key when a keystore already exists: that keystore
   * could never be opened again. Does not recover an interrupted rotation: see
   * {@linkcode recover}.
   */
  static async load(options: LoadSealKeyOptions): Promise<SealKey> {
    if (options.configured) return SealKey.fixed(options.configured, options.files);
    const key = new SealKey(undefined, {
      dir: options.dataDir,
      files: options.files,
      crashAfter: options.crashAfter,
    });
    if (await key.#readFiles()) return key;
    const path = join(options.dataDir, SEAL_KEY_FILE);
    if (await pathExists(options.keystorePath)) {
      throw new KeystoreError(
        "seal_key_missing",
        `${options.keystorePath} exists but no seal key is configured and ${path} is missing; set AGENTKEYS_SEAL_KEY`,
      );
    }
    await Deno.mkdir(options.dataDir, { recursive: true });
    const fresh = crypto.getRandomValues(new Uint8Array(32));
    // createNew: two first starts racing must not both write a key.
    await Deno.writeTextFile(path, fresh.toHex() + "\n", { createNew: true, mode: 0o600 });
    key.#current = fresh;
    return key;
  }

  /** True for the embedded `seal.key`: destroying an epoch moves everything to a fresh key. */
  get rotates(): boolean {
    return this.#dir !== undefined;
  }

  /** A rotation was interrupted (or runs in another process): `seal.key.next` exists. */
  get pending(): boolean {
    return this.#next !== undefined;
  }

  /** Seals under the newest key (the pending one while a rotation is unfinished). */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return sealSecret(this.#sealing(), aad, plaintext);
  }

  /**
   * Opens `sealed` with the pending or the current key; when neither fits, re-reads the key
   * files once (another process may have rotated) and tries again. Throws
   * `EnvelopeAuthFailed` when nothing opens it.
   */
  async open(aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
    const first = this.#tryOpen(aad, sealed);
    if (first) return first;
    if (this.#dir !== undefined && await this.#readFiles()) {
      const second = this.#tryOpen(aad, sealed);
      if (second) return second;
    }
    return openSecret(this.#sealing(), aad, sealed); // throws the typed error
  }

  /**
   * Moves every sealed file to a fresh key (steps 1–5 of the module doc). The caller holds the
   * keystore lock. `self`/`write`: the file the caller writes itself under the new key (the
   * keystore, with its change) instead of a plain re-seal. Embedded default only.
   */
  async rotate(options: { self?: string; write?: (key: Uint8Array) => Promise<void> } = {}) {
    if (this.#dir === undefined) {
      throw new KeystoreError(
        "seal_key_external",
        "the seal key is supplied (AGENTKEYS_SEAL_KEY): use `deno task signer reseal`",
      );
    }
    if (this.#next) await this.recover(); // finish the interrupted one first
    const next = crypto.getRandomValues(new Uint8Array(32));
    await writeFileAtomic(join(this.#dir, SEAL_KEY_NEXT_FILE), utf8(next.toHex() + "\n"), {
      mode: 0o600,
    });
    this.#next = next;
    this.#crashAfter?.("next_written");
    for (const file of this.#files) {
      if (file.path !== options.self) await resealFile(file, this.#candidates(), next);
    }
    this.#crashAfter?.("others_resealed");
    if (options.write) await options.write(next);
    else {
      const self = this.#files.find((f) => f.path === options.self);
      if (self) await resealFile(self, this.#candidates(), next);
    }
    this.#crashAfter?.("self_resealed");
    await this.#commit();
  }

  /**
   * Finishes a rotation that `seal.key.next` shows was interrupted: re-seals what still opens
   * only under the old key, then scrubs and replaces `seal.key`. The caller holds the keystore
   * lock. Throws (and changes nothing more) when a file opens under neither key.
   */
  async recover(): Promise<boolean> {
    if (this.#dir === undefined) return false;
    await this.#readFiles();
    const next = this.#next;
    if (!next) return false;
    for (const file of this.#files) await resealFile(file, this.#candidates(), next);
    await this.#commit();
    return true;
  }

  /** The newest key, or throws when there is none (e.g. both files unreadable). */
  #sealing(): Uint8Array {
    const key = this.#next ?? this.#current;
    if (!key) throw new KeystoreError("seal_key_missing", "no usable seal key");
    return key;
  }

  #candidates(): Uint8Array[] {
    return [this.#next, this.#current].filter((k) => k !== undefined);
  }

  #tryOpen(aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    return tryOpen(this.#candidates(), aad, sealed);
  }

  /** A copy of the current key (for {@linkcode loadSealKey}). */
  currentBytes(): Uint8Array {
    return this.#sealing().slice();
  }

  /**
   * Re-reads `seal.key.next` then `seal.key` (in that order: step 5 renames the first over the
   * second). Returns false when neither exists. A scrubbed `seal.key` next to a valid
   * `seal.key.next` is the instant between steps 4 and 5, not an error.
   */
  async #readFiles(): Promise<boolean> {
    const dir = this.#dir!;
    const nextText = await readTextIfExists(join(dir, SEAL_KEY_NEXT_FILE));
    const next = nextText === undefined
      ? undefined
      : parseKey(nextText, join(dir, SEAL_KEY_NEXT_FILE));
    const currentText = await readTextIfExists(join(dir, SEAL_KEY_FILE));
    let current: Uint8Array | undefined;
    if (currentText !== undefined) {
      try {
        current = parseKey(currentText, join(dir, SEAL_KEY_FILE));
      } catch (err) {
        if (!next) throw err;
      }
    }
    if (!next && !current) return false;
    // The buffers read before are replaced by fresh copies: their bytes need not linger.
    this.#current?.fill(0);
    this.#next?.fill(0);
    this.#current = current;
    this.#next = next;
    return true;
  }

  /** Steps 4 and 5: the old key's bytes are overwritten on disk, then N replaces S. */
  async #commit(): Promise<void> {
    const dir = this.#dir!;
    const path = join(dir, SEAL_KEY_FILE);
    await scrub(path);
    this.#crashAfter?.("old_scrubbed");
    await Deno.rename(join(dir, SEAL_KEY_NEXT_FILE), path);
    await syncDir(dir);
    this.#current?.fill(0);
    this.#current = this.#next;
    this.#next = undefined;
  }
}

/**
 * Moves every file sealed under `oldKey` to `newKey`: the supplied-key counterpart of
 * {@linkcode SealKey.rotate} (`deno task signer reseal`). Checks every file first and writes
 * nothing when one opens under neither key (a wrong old key). Files already under `newKey`
 * (an interrupted earlier run) are left as they are, so a re-run finishes the job. The caller
 * holds the keystore lock.
 *
 * ```ts
 * const r = await resealFiles(files, oldKey, newKey); // { resealed: [...], already: [...] }
 * ```
 */
export async function resealFiles(
  files: SealedFile[],
  oldKey: Uint8Array,
  newKey: Uint8Array,
): Promise<{ resealed: string[]; already: string[] }> {
  const resealed: string[] = [];
  const already: string[] = [];
  const plan: SealedFile[] = [];
  for (const file of files) {
    const text = await readTextIfExists(file.path);
    if (text === undefined) continue;
    const sealed = Uint8Array.fromBase64(parseSealedJson(text, file.path).sealed as string);
    if (opens(newKey, file.aad, sealed)) already.push(file.path);
    else if (opens(oldKey, file.aad, sealed)) plan.push(file);
    else throw new KeystoreUnsealFailed(file.path);
  }
  for (const file of plan) {
    await resealFile(file, [oldKey], newKey);
    resealed.push(file.path);
  }
  return { resealed, already };
}

function tryOpen(
  keys: Uint8Array[],
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  for (const key of keys) {
    try {
      return openSecret(key, aad, sealed);
    } catch {
      // another candidate may fit
    }
  }
  return undefined;
}

/** Re-seals one file under `key` unless it already is; a missing file is skipped. */
async function resealFile(file: SealedFile, candidates: Uint8Array[], key: Uint8Array) {
  const run = async () => {
    const text = await readTextIfExists(file.path);
    if (text === undefined) return;
    const outer = parseSealedJson(text, file.path);
    const sealed = Uint8Array.fromBase64(outer.sealed as string);
    if (opens(key, file.aad, sealed)) return; // already under the new key
    const plain = tryOpen(candidates, file.aad, sealed);
    if (!plain) throw new KeystoreUnsealFailed(file.path);
    try {
      const resealed = sealSecret(key, file.aad, plain).toBase64();
      await writeFileAtomic(
        file.path,
        utf8(JSON.stringify({ ...outer, sealed: resealed }) + "\n"),
        { mode: 0o600 },
      );
    } finally {
      plain.fill(0);
    }
  };
  // A file that does not exist has nothing to move (and its lock's directory may not exist).
  if (!(await pathExists(file.path))) return;
  await (file.lock ? withFileLock(file.lock, run) : run());
}

function opens(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): boolean {
  try {
    openSecret(key, aad, sealed).fill(0);
    return true;
  } catch {
    return false;
  }
}

/** Parses a 64-hex key file; throws `seal_key_invalid` otherwise. */
export function parseKey(text: string, path: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new KeystoreError("seal_key_invalid", `${path} does not hold 64 hex characters`);
  }
  return Uint8Array.fromHex(hex);
}

function parseSealedJson(text: string, path: string): Record<string, unknown> {
  try {
    const outer = JSON.parse(text);
    if (typeof outer?.sealed === "string") return outer;
  } catch {
    // reported below
  }
  throw new KeystoreError("sealed_file_corrupt", `${path} is not a sealed file; left untouched`);
}

/** Overwrites the file's bytes in place (same inode, same length) and fsyncs it. */
async function scrub(path: string): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true, write: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return; // scrubbed and replaced before a crash
    throw err;
  }
  try {
    const { size } = await file.stat();
    // Zero bytes are not hex, so a scrubbed file can never be taken for a key.
    const zeros = new Uint8Array(size);
    let written = 0;
    while (written < size) written += await file.write(zeros.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/**
 * The configured seal key, or the embedded `seal.key`'s current bytes (see
 * {@linkcode SealKey.load}); kept for callers that only need the bytes once.
 *
 * ```ts
 * const sealKey = await loadSealKey({ dataDir: "./data", keystorePath: "./data/signer/keystore.json" });
 * ```
 */
export async function loadSealKey(
  options: { configured?: Uint8Array; dataDir: string; keystorePath: string },
): Promise<Uint8Array> {
  if (options.configured) return options.configured;
  const key = await SealKey.load(options);
  return key.currentBytes();
}
