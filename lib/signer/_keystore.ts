/**
 * The K3 epoch keystore (ARCHITECTURE §3): every epoch key, sealed at rest with the seal key.
 *
 * Epochs follow a small state machine — `active` (exactly one) → `retiring` → `destroyed` — and
 * the only operations are {@linkcode EpochKeystore.rotate} and {@linkcode EpochKeystore.destroy}.
 * There is deliberately no way to read a K3: callers get per-(epoch, class, actor) KEK handles.
 *
 * Every change is a read-modify-write under an in-process mutex and a file lock, re-reading the
 * file first, so that a CLI and the service sharing a data directory cannot lose each other's
 * rotation. The file is replaced atomically and never rewritten when it cannot be opened.
 *
 * A destroyed epoch's key leaves memory as well as the file: the K3 bytes and every KEK derived
 * from them are zeroed (also when {@linkcode EpochKeystore.refresh} sees a destruction made by
 * another process), and on the embedded seal key a destruction moves the keystore to a fresh seal
 * key (see `_seal_key.ts`), so an old copy of the file no longer opens.
 *
 * @module
 */

import { dirname } from "node:path";
import {
  type DataClass,
  deriveKek,
  EnvelopeEpochDestroyed,
  EnvelopeUnknownEpoch,
  type Kek,
  sealSecret,
} from "../crypto/mod.ts";
import { readTextIfExists, withFileLock, writeFileAtomic } from "../fsutil/mod.ts";
import {
  EpochStateError,
  EpochTagCollision,
  KeystoreCorrupt,
  KeystoreError,
  KeystoreUnsealFailed,
} from "./_errors.ts";
import { SealKey } from "./_seal_key.ts";

export type EpochState = "active" | "retiring" | "destroyed";

/** Public facts about an epoch; never key material. */
export interface EpochInfo {
  epoch: number;
  state: EpochState;
  createdAt: string;
  retiredAt?: string;
  destroyedAt?: string;
}

/**
 * Called by {@linkcode EpochKeystore.destroy} before anything is erased; throws to refuse.
 * The re-encryption component supplies the census check here (an epoch still holding blobs
 * must not be destroyed).
 */
export type DestroyGuard = (epoch: number) => Promise<void>;

/**
 * Called by {@linkcode EpochKeystore.rotate} (inside the lock) when the next epoch's one-byte tag
 * was used by a destroyed epoch; throws to refuse. Blobs left under that destroyed epoch would
 * otherwise be read as the new epoch's (the census supplies the check, see lib/reencrypt).
 */
export type RotateGuard = (next: number, destroyed: EpochInfo) => Promise<void>;

export interface KeystoreOptions {
  /** The sealed keystore file, e.g. `$AGENTKEYS_DATA_DIR/signer/keystore.json`. */
  path: string;
  /** The 32-byte seal key, or a {@linkcode SealKey} that can change (the embedded `seal.key`). */
  sealKey: Uint8Array | SealKey;
  /** Create the file with epoch 1 active when it does not exist (default true). */
  create?: boolean;
  /** Most KEKs kept derived at once (default 4096). */
  kekCacheSize?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

interface EpochRecord extends EpochInfo {
  key?: Uint8Array;
}

const FORMAT = "agentkeys.keystore";
const VERSION = 1;
const SEAL_AAD = new TextEncoder().encode(`${FORMAT}.v${VERSION}`);

/** The AAD the keystore is sealed with, for re-sealing it under another seal key. */
export const KEYSTORE_SEAL_AAD: Uint8Array = SEAL_AAD.slice();

/**
 * The signer's K3 keystore.
 *
 * ```ts
 * const ks = await EpochKeystore.open({ path: "./data/signer/keystore.json", sealKey });
 * const kek = ks.kek(ks.activeEpoch, "credentials", actorHex);
 * await ks.rotate(); // epoch 2 active, epoch 1 retiring
 * ```
 */
export class EpochKeystore {
  #records: EpochRecord[] = [];
  #kekCache = new Map<string, Kek>();
  #mutex: Promise<unknown> = Promise.resolve();
  /** mtime/size/inode of the file as last read or written, for {@linkcode refresh}. */
  #stamp = "";
  #checkedAt = 0;
  readonly #path: string;
  readonly #seal: SealKey;
  readonly #cacheSize: number;
  readonly #now: () => Date;

  private constructor(options: KeystoreOptions) {
    this.#path = options.path;
    this.#seal = options.sealKey instanceof SealKey
      ? options.sealKey
      : SealKey.fixed(options.sealKey);
    this.#cacheSize = options.kekCacheSize ?? 4096;
    this.#now = options.now ?? (() => new Date());
  }

  /** Opens the keystore, creating it with epoch 1 active on first use. */
  static async open(options: KeystoreOptions): Promise<EpochKeystore> {
    const ks = new EpochKeystore(options);
    await Deno.mkdir(dirname(options.path), { recursive: true });
    await ks.#exclusive(async () => {
      const records = await ks.#read();
      if (records) {
        ks.#records = records;
      } else if (options.create ?? true) {
        const first: EpochRecord = {
          epoch: 1,
          state: "active",
          createdAt: ks.#now().toISOString(),
          key: crypto.getRandomValues(new Uint8Array(32)),
        };
        await ks.#write([first]);
        ks.#records = [first];
      } else {
        throw new Deno.errors.NotFound(`no keystore at ${options.path}`);
      }
    });
    return ks;
  }

  /**
   * Whether {@linkcode destroy} moves the keystore to a fresh seal key (the embedded `seal.key`).
   * False for a supplied key: the old key must then be retired by the operator
   * (`deno task signer reseal`) before a copy of the file stops opening destroyed epochs.
   */
  get sealKeyRotates(): boolean {
    return this.#seal.rotates;
  }

  /** The epoch new writes use. */
  get activeEpoch(): number {
    return this.#records.find((r) => r.state === "active")!.epoch;
  }

  /** Every epoch, oldest first, without key material. */
  list(): EpochInfo[] {
    return this.#records.map(toInfo);
  }

  /** The state of `epoch`, or undefined if it never existed. */
  stateOf(epoch: number): EpochState | undefined {
    return this.#records.find((r) => r.epoch === epoch)?.state;
  }

  /**
   * The live epoch whose tag (`epoch % 256`) is `tag` — what a blob's first byte means.
   * Throws `EnvelopeEpochDestroyed` when only a destroyed epoch had that tag, and
   * `EnvelopeUnknownEpoch` when none did.
   */
  epochForTag(tag: number): number {
    const live = this.#records.find((r) => r.state !== "destroyed" && r.epoch % 256 === tag);
    if (live) return live.epoch;
    const dead = this.#records.findLast((r) => r.epoch % 256 === tag);
    if (dead) throw new EnvelopeEpochDestroyed(dead.epoch);
    throw new EnvelopeUnknownEpoch(tag);
  }

  /**
   * The newest destroyed epoch whose tag is `tag`, if any. A blob with this tag that does not
   * open under the live epoch of the same tag is most likely a leftover of that destroyed epoch
   * (its AAD binds the full epoch number), so readers answer "destroyed", not "corrupt".
   */
  destroyedEpochForTag(tag: number): number | undefined {
    return this.#records.findLast((r) => r.state === "destroyed" && r.epoch % 256 === tag)
      ?.epoch;
  }

  /** The KEK for (epoch, class, actor), derived once and cached. */
  kek(epoch: number, dataClass: DataClass, actorHex: string): Kek {
    const id = `${epoch}|${dataClass}|${actorHex}`;
    const cached = this.#kekCache.get(id);
    if (cached) {
      // Re-insert: Map iteration order makes the oldest entry the eviction candidate.
      this.#kekCache.delete(id);
      this.#kekCache.set(id, cached);
      return cached;
    }
    const record = this.#records.find((r) => r.epoch === epoch);
    if (!record) throw new EnvelopeUnknownEpoch(epoch % 256);
    if (!record.key) throw new EnvelopeEpochDestroyed(epoch);
    const kek = deriveKek(record.key, dataClass, actorHex);
    if (this.#kekCache.size >= this.#cacheSize) {
      this.#kekCache.delete(this.#kekCache.keys().next().value!);
    }
    this.#kekCache.set(id, kek);
    return kek;
  }

  /**
   * Activates epoch N+1 and moves N to `retiring`. Refuses when N+1's tag equals the tag of an
   * epoch that is not destroyed (at most 255 epochs alive at once). When a destroyed epoch had
   * that tag, `guard` runs first (inside the lock) and refuses by throwing.
   */
  rotate(options: { guard?: RotateGuard } = {}): Promise<{ active: number; previous: number }> {
    return this.#mutate(async (records) => {
      const previous = records.find((r) => r.state === "active")!;
      const next = records[records.length - 1].epoch + 1;
      const clash = records.find((r) => r.state !== "destroyed" && r.epoch % 256 === next % 256);
      if (clash) throw new EpochTagCollision(next, clash.epoch);
      const dead = records.findLast((r) => r.state === "destroyed" && r.epoch % 256 === next % 256);
      if (dead && options.guard) await options.guard(next, toInfo(dead));
      const at = this.#now().toISOString();
      const updated = records.map((r) =>
        r === previous ? { ...r, state: "retiring" as const, retiredAt: at } : r
      );
      updated.push({
        epoch: next,
        state: "active",
        createdAt: at,
        key: crypto.getRandomValues(new Uint8Array(32)),
      });
      return { records: updated, result: { active: next, previous: previous.epoch } };
    });
  }

  /**
   * Erases a retiring epoch's key and keeps a tombstone. `guard` runs first (inside the lock)
   * and refuses by throwing — the census check lives there. On the embedded seal key the
   * keystore (and every file sealed with it) moves to a fresh seal key in the same step.
   */
  destroy(epoch: number, options: { guard?: DestroyGuard } = {}): Promise<EpochInfo> {
    return this.#mutate(async (records) => {
      const record = records.find((r) => r.epoch === epoch);
      if (!record) throw new EpochStateError(`epoch ${epoch} does not exist`);
      if (record.state === "active") {
        throw new EpochStateError(`epoch ${epoch} is active; rotate first`);
      }
      if (record.state === "destroyed") {
        throw new EpochStateError(`epoch ${epoch} is already destroyed`);
      }
      await options.guard?.(epoch);
      const tombstone: EpochRecord = {
        epoch,
        state: "destroyed",
        createdAt: record.createdAt,
        retiredAt: record.retiredAt,
        destroyedAt: this.#now().toISOString(),
      };
      return {
        records: records.map((r) => r === record ? tombstone : r),
        result: { ...tombstone },
        rotateSealKey: true,
      };
    });
  }

  /**
   * Picks up a change another process made (e.g. `deno task signer rotate` while the service
   * runs): a cheap `stat` at most every `maxAgeMs`, and a reload only when the file changed.
   * Writers call this before sealing, so a rotation takes effect within `maxAgeMs`.
   */
  async refresh(maxAgeMs = 250): Promise<void> {
    const now = Date.now();
    if (now - this.#checkedAt < maxAgeMs) return;
    this.#checkedAt = now;
    let stamp: string;
    try {
      stamp = fileStamp(await Deno.stat(this.#path));
    } catch {
      return; // the next read or change reports the problem with its own clear error
    }
    if (stamp !== this.#stamp) await this.reload();
  }

  /** Re-reads the file (another process may have rotated). */
  reload(): Promise<void> {
    return this.#exclusive(async () => {
      const records = await this.#read();
      if (!records) throw new KeystoreCorrupt(this.#path, "the file disappeared");
      this.#adopt(records);
    });
  }

  /** Serializes read-modify-write: in-process mutex, then a file lock for other processes. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#mutex.then(() => withFileLock(`${this.#path}.lock`, fn));
    this.#mutex = run.catch(() => {});
    return run;
  }

  #mutate<T>(
    change: (records: EpochRecord[]) => Promise<Change<T>> | Change<T>,
  ): Promise<T> {
    return this.#exclusive(async () => {
      const current = await this.#read();
      if (!current) throw new KeystoreCorrupt(this.#path, "the file disappeared");
      this.#adopt(current);
      const { records, result, rotateSealKey } = await change(current);
      if (rotateSealKey && this.#seal.rotates) {
        let written = false;
        try {
          await this.#seal.rotate({
            self: this.#path,
            write: async (key) => {
              await this.#write(records, key);
              written = true;
            },
          });
        } finally {
          // Once the file holds the change it is the truth, even if a later step failed.
          if (written) this.#adopt(records);
        }
      } else {
        await this.#write(records);
        this.#adopt(records);
      }
      return result;
    });
  }

  /**
   * Takes `records` as the truth. Key buffers that are not carried over are zeroed (a reload
   * reads fresh copies), and the cached KEKs of epochs that lost their key are wiped.
   */
  #adopt(records: EpochRecord[]): void {
    const kept = new Set(records.map((r) => r.key).filter((k) => k !== undefined));
    for (const old of this.#records) {
      if (old.key && !kept.has(old.key)) old.key.fill(0);
    }
    const destroyed = new Set(records.filter((r) => !r.key).map((r) => r.epoch));
    for (const [id, kek] of this.#kekCache) {
      const epoch = Number(id.slice(0, id.indexOf("|")));
      if (destroyed.has(epoch)) {
        this.#kekCache.delete(id);
        kek.wipe(epoch);
      }
    }
    this.#records = records;
  }

  async #read(): Promise<EpochRecord[] | undefined> {
    const stat = await Deno.stat(this.#path).catch(() => undefined);
    const text = await readTextIfExists(this.#path);
    if (text === undefined) return undefined;
    if (stat) this.#stamp = fileStamp(stat);
    let outer: { format?: unknown; version?: unknown; sealed?: unknown };
    try {
      outer = JSON.parse(text);
    } catch {
      throw new KeystoreCorrupt(this.#path, "not JSON");
    }
    if (outer.format !== FORMAT || outer.version !== VERSION || typeof outer.sealed !== "string") {
      throw new KeystoreCorrupt(this.#path, "unknown format or version");
    }
    let plain: Uint8Array;
    try {
      plain = await this.#seal.open(SEAL_AAD, Uint8Array.fromBase64(outer.sealed));
    } catch (err) {
      if (err instanceof KeystoreError) throw err; // e.g. an unreadable seal.key
      throw new KeystoreUnsealFailed(this.#path);
    }
    try {
      return parseRecords(this.#path, new TextDecoder().decode(plain));
    } finally {
      plain.fill(0);
    }
  }

  /** Seals under `sealKey` when given (a seal key rotation), else the current seal key. */
  async #write(records: EpochRecord[], sealKey?: Uint8Array): Promise<void> {
    const inner = new TextEncoder().encode(JSON.stringify({
      epochs: records.map((r) => ({ ...r, key: r.key?.toBase64() })),
    }));
    const sealed = sealKey
      ? sealSecret(sealKey, SEAL_AAD, inner)
      : this.#seal.seal(SEAL_AAD, inner);
    inner.fill(0);
    const outer = JSON.stringify({ format: FORMAT, version: VERSION, sealed: sealed.toBase64() });
    await writeFileAtomic(this.#path, new TextEncoder().encode(outer + "\n"), { mode: 0o600 });
    this.#stamp = fileStamp(await Deno.stat(this.#path));
  }
}

interface Change<T> {
  records: EpochRecord[];
  result: T;
  /** Move the keystore to a fresh seal key with this change (embedded seal key only). */
  rotateSealKey?: boolean;
}

function toInfo({ key: _key, ...info }: EpochRecord): EpochInfo {
  return { ...info };
}

function parseRecords(path: string, json: string): EpochRecord[] {
  const bad = (detail: string) => new KeystoreCorrupt(path, detail);
  let doc: { epochs?: unknown };
  try {
    doc = JSON.parse(json);
  } catch {
    throw bad("sealed body is not JSON");
  }
  if (!Array.isArray(doc.epochs) || doc.epochs.length === 0) throw bad("no epochs");
  const records: EpochRecord[] = doc.epochs.map((e: Record<string, unknown>) => {
    if (!Number.isSafeInteger(e.epoch) || (e.epoch as number) < 1) throw bad("bad epoch number");
    if (e.state !== "active" && e.state !== "retiring" && e.state !== "destroyed") {
      throw bad("bad state");
    }
    if ((e.state === "destroyed") !== (e.key === undefined)) {
      throw bad("key presence does not match state");
    }
    const key = typeof e.key === "string" ? Uint8Array.fromBase64(e.key) : undefined;
    if (key && key.length !== 32) throw bad("bad key length");
    return {
      epoch: e.epoch as number,
      state: e.state,
      createdAt: String(e.createdAt),
      ...(e.retiredAt ? { retiredAt: String(e.retiredAt) } : {}),
      ...(e.destroyedAt ? { destroyedAt: String(e.destroyedAt) } : {}),
      ...(key ? { key } : {}),
    };
  });
  for (let i = 1; i < records.length; i++) {
    if (records[i].epoch <= records[i - 1].epoch) throw bad("epochs out of order");
  }
  if (records.filter((r) => r.state === "active").length !== 1) {
    throw bad("not exactly one active epoch");
  }
  return records;
}

function fileStamp(info: Deno.FileInfo): string {
  return `${info.mtime?.getTime()}|${info.size}|${info.ino}`;
}
