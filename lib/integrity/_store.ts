/**
 * {@linkcode IntegrityStore}: the {@linkcode BlobStore} every component writes and reads through
 * (`lib/datadir` wraps the configured store in it), so every writer — the worker, lazy re-wraps,
 * the re-encryption engine, purges, inbound, migration, sweeps — records pointers without
 * knowing, and every full read is checked.
 *
 * - `put`: announce an intent (next version, expected SHA-256) → write → commit the pointer and
 *   its `blob_written` audit entry. A refused compare-and-swap withdraws the intent; any other
 *   failure leaves it for the next read to settle (the bytes may or may not have landed).
 * - `delete`: the same with a tombstone (`blob_deleted`).
 * - `get`: hash the bytes first and compare with the pointer (from this process's memory while
 *   no process changed pointers, see `KvPointerStore.expected`), before anyone decrypts. Bytes
 *   that match an intent newer than the pointer are a write whose commit was lost (a crash, or
 *   one still in flight): committed now. Anything else is refused with {@linkcode IntegrityMismatch}
 *   and audited. A blob with no pointer at all predates integrity: refused when `strict`, else
 *   returned with `adopt` (`StoredBlob`), which the reader calls once the envelope opened — the
 *   pointer and its audit entry then vouch only for bytes that authenticated.
 * - `head`, `list` and range reads pass through: they classify, count and list, they never hand
 *   bytes to a decryption (the engine re-reads with `get` before it rewrites). A range from byte
 *   0 is checked against the epoch the pointer records (the census decides by that byte).
 *
 * Writes of one key are serialized in this process, so its own commits land in write order;
 * across processes a stale commit never replaces a newer version (versions only grow).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type {
  BlobInfo,
  BlobStore,
  ListOptions,
  PutConditions,
  RangeBlob,
  StoredBlob,
} from "../store/mod.ts";
import { PreconditionFailed } from "../store/mod.ts";
import type { BlobPointer, KvPointerStore, PointerDigest, PointerIntent } from "../state/mod.ts";
import { IntegrityBlocked, IntegrityMismatch } from "./_errors.ts";

/** Reads of one key retried when writes keep moving its pointer on; then checked as they are. */
const READ_ATTEMPTS = 3;
const RETRY = Symbol("retry");

/** `adopt` (default): blobs without a pointer are adopted on first read; `strict`: refused. */
export type IntegrityMode = "adopt" | "strict";

/** What the wrapper needs besides the store. */
export interface IntegrityStoreOptions {
  pointers: KvPointerStore;
  mode?: IntegrityMode;
  /** The full epoch of an envelope's first byte (the keystore's); throws for an unknown tag. */
  epochForTag?: (tag: number) => number;
  /** Called after every pointer commit of this process (the Merkle tree, the anchor counter). */
  onCommit?: (pointer: BlobPointer) => void;
  /** Non-null while writes are refused (a detected state rollback); the reason. */
  writeBlock?: () => Promise<string | null>;
  warn?: (message: string) => void;
}

/** Lowercase hex SHA-256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * ```ts
 * const store = new IntegrityStore(new FsBlobStore(dir), { pointers: new KvPointerStore(kv) });
 * await store.put(key, blob);       // pointer v1 + blob_written
 * await store.get(key);             // hashed and compared before it is returned
 * ```
 */
export class IntegrityStore implements BlobStore {
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #mode: IntegrityMode;

  constructor(readonly inner: BlobStore, readonly options: IntegrityStoreOptions) {
    this.#mode = options.mode ?? "adopt";
  }

  /** Adds a listener of this process's pointer commits (the Merkle tree, the anchor counter). */
  listen(fn: (pointer: BlobPointer) => void): void {
    this.#listeners.push(fn);
  }
  readonly #listeners: ((pointer: BlobPointer) => void)[] = [];

  get kind(): "fs" | "s3" {
    return this.inner.kind;
  }

  async get(key: string): Promise<StoredBlob | null> {
    for (let attempt = 1;; attempt++) {
      const read = await this.#checkedGet(key, attempt < READ_ATTEMPTS);
      if (read !== RETRY) return read;
    }
  }

  /**
   * One checked read. `RETRY` (only while `mayRetry`): the pointer moved on while the bytes were
   * checked — the bytes may have been current when read and replaced since, so read again
   * rather than call a concurrent writer's work a mismatch.
   */
  async #checkedGet(
    key: string,
    mayRetry: boolean,
  ): Promise<StoredBlob | null | typeof RETRY> {
    const { pointers } = this.options;
    // The pointer is read *before* the bytes, never alongside: read after them, it could
    // already name a write that replaced the bytes this read saw (a false alarm). Bytes newer
    // than the pointer were announced by an intent before their PUT, so re-reading the pointer
    // and the intents *after* the bytes finds them — a write in flight is never a false alarm.
    const cached = pointers.cachedExpectation(key);
    const before = cached === undefined ? await pointers.expected(key) : cached;
    const stored = await this.inner.get(key);
    const found = stored === null ? null : sha256Hex(stored.body);
    if (this.#agrees(before, found)) return stored;
    const after = await pointers.get(key);
    if (this.#agrees(after, found)) return stored;
    const intents = await pointers.intents(key, after?.version ?? 0);
    if (after) await pointers.dropStaleIntents(key, after.version);
    const landed = intents.findLast((i) => i.sha256 === found);
    if (landed) {
      await this.#commit(landed, "recovered");
      return stored;
    }
    // A commit between reading `after` and the intents deletes the intent it commits (after
    // the commit): the pointer, read once more, names these bytes then, or a newer write.
    const last = await pointers.get(key);
    if (this.#agrees(last, found)) return stored;
    if (mayRetry && (last?.version ?? 0) !== (after?.version ?? 0)) return RETRY;
    if (after === null && found !== null && this.#mode === "adopt") {
      // Adopted only once the reader authenticated the bytes (`StoredBlob.adopt`).
      const body = stored!.body;
      let adopting: Promise<void> | undefined;
      const adopt = () => adopting ??= this.#adopt(key, body, found);
      return { ...stored!, adopt };
    }
    if (after === null && found === null) return null;
    const expected = after?.sha256 ?? null;
    const what = found === null
      ? "the blob is missing"
      : expected === null && after !== null
      ? "a deleted blob is back"
      : after === null
      ? "the blob has no pointer (AGENTKEYS_INTEGRITY=strict)"
      : "the blob's bytes are not the ones last written";
    await pointers.audit("integrity_mismatch", {
      key,
      expected,
      found,
      version: after?.version ?? null,
    }).catch((err) => this.options.warn?.(`audit integrity_mismatch: ${err}`));
    throw new IntegrityMismatch(`integrity check failed: ${what}`, {
      key,
      expected,
      found,
    });
  }

  /**
   * Passes through, except that byte 0 must be the epoch tag of the bytes the pointer records:
   * the census and the re-encryption engine judge a blob's epoch by it alone, and a byte
   * rewritten to the active epoch's tag (or a store that answers range reads with other bytes)
   * would let a census count a retiring epoch empty and the service destroy a key the blob still
   * needs. Read like `get`: the pointer before the bytes, then pointer and intents after them.
   */
  async getRange(key: string, start: number, end: number): Promise<RangeBlob | null> {
    if (start !== 0) return await this.inner.getRange(key, start, end);
    const { pointers } = this.options;
    // From memory when it can, as a full read's (listings and censuses read byte 0 of each blob).
    const before = await pointers.expected(key);
    const range = await this.inner.getRange(key, start, end);
    if (range === null || range.body.length === 0) return range;
    const tag = range.body[0];
    const fits = (p: { epoch: number | null } | null) =>
      p === null || p.epoch === null || p.epoch % 256 === tag;
    if (fits(before)) return range;
    const after = await pointers.get(key);
    if (fits(after)) return range;
    if ((await pointers.intents(key, after?.version ?? 0)).some(fits)) return range;
    if (fits(await pointers.get(key))) return range;
    const expected = `epoch ${after!.epoch} (tag ${after!.epoch! % 256})`;
    await pointers.audit("integrity_mismatch", {
      key,
      expected,
      found: `tag ${tag}`,
      version: after!.version,
    }).catch((err) => this.options.warn?.(`audit integrity_mismatch: ${err}`));
    throw new IntegrityMismatch(
      `integrity check failed: the blob's first byte is not the epoch its pointer records`,
      { key, expected, found: `tag ${tag}` },
    );
  }

  head(key: string): Promise<BlobInfo | null> {
    return this.inner.head(key);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix, options);
  }

  put(key: string, body: Uint8Array, conditions?: PutConditions): Promise<{ etag: string }> {
    return this.#serial(key, async () => {
      await this.#checkWritable();
      const intent = await this.options.pointers.announce({
        key,
        epoch: this.#epochOf(body),
        sha256: sha256Hex(body),
        size: body.length,
      });
      let result: { etag: string };
      try {
        result = await this.inner.put(key, body, conditions);
      } catch (err) {
        // Certainly not written: forget the intent. Otherwise the next read settles it.
        if (err instanceof PreconditionFailed) {
          await this.options.pointers.withdraw(intent).catch(() => {});
        }
        throw err;
      }
      await this.#settle(intent);
      return result;
    });
  }

  delete(key: string, conditions?: { ifMatch?: string }): Promise<boolean> {
    return this.#serial(key, async () => {
      await this.#checkWritable();
      const { pointers } = this.options;
      const intent = await pointers.announce({ key, epoch: null, sha256: null, size: 0 });
      let removed: boolean;
      try {
        // `ifMatch`: the TTL sweep's compare-and-swap delete (lib/lifecycle).
        removed = await this.inner.delete(key, conditions);
      } catch (err) {
        // A refused condition changed nothing: the intent goes. So does the intent of a failed
        // delete whose blob is still there: kept, it would pass off any later disappearance of
        // the blob (the store's operator deleting it) as this delete, recovered by a read.
        if (err instanceof PreconditionFailed || await this.#stillThere(key)) {
          await pointers.withdraw(intent);
        }
        throw err;
      }
      const current = await pointers.get(key);
      if (!removed && (current === null || current.sha256 === null)) {
        await pointers.withdraw(intent); // nothing was there and nothing was claimed
      } else {
        await this.#settle(intent);
      }
      return removed;
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Whether `key` is in the store now; `false` when the store cannot say (the intent stays). */
  async #stillThere(key: string): Promise<boolean> {
    try {
      return (await this.inner.head(key)) !== null;
    } catch {
      return false;
    }
  }

  #agrees(pointer: PointerDigest | null, found: string | null): boolean {
    return pointer !== null && pointer.sha256 === found;
  }

  async #commit(
    intent: PointerIntent,
    reason: "write" | "recovered" | "adopted",
  ): Promise<BlobPointer | null> {
    return (await this.#commitReplacing(intent, reason)).pointer;
  }

  async #commitReplacing(
    intent: PointerIntent,
    reason: "write" | "recovered" | "adopted",
  ): Promise<{ pointer: BlobPointer | null; replaced: BlobPointer | null }> {
    const outcome = await this.options.pointers.commitReplacing(intent, reason);
    const { pointer } = outcome;
    // Only the call that committed tells: a read that committed this write's intent first
    // already did (told twice, the anchor loop counted the write twice).
    if (pointer && outcome.committed) {
      this.options.onCommit?.(pointer);
      for (const fn of this.#listeners) fn(pointer);
    }
    return outcome;
  }

  /**
   * Commits a write whose store operation completed. Versions order announces, not store
   * operations: when another write of the key overlapped this one, the commit does not say whose
   * bytes landed last, and the store is asked. That is when the commit was refused for a newer
   * version committed meanwhile (a read adopted the blob, another process's write or delete
   * committed first), or when it replaced an older version committed after this write was
   * announced (another process's write that announced first and committed later). The bytes
   * stored (this write's, or the overlapping one's) are then committed as a newer version, unless
   * the pointer names them already; left as they were, every later read was a false
   * `integrity_mismatch`. Without an overlap nothing more is read.
   */
  async #settle(intent: PointerIntent): Promise<void> {
    let { pointer: current, replaced } = await this.#commitReplacing(intent, "write");
    for (let round = 0; round < READ_ATTEMPTS; round++) {
      if (current === null) return;
      const refused = current.version > intent.version;
      const overlapped = replaced !== null && intent.seen_seq !== undefined &&
        replaced.seq > intent.seen_seq && replaced.sha256 !== intent.sha256;
      if (!refused && !overlapped) return;
      const stored = await this.inner.get(intent.key);
      const found = stored === null ? null : sha256Hex(stored.body);
      if (current.sha256 === found) return;
      const source = found === intent.sha256
        ? intent
        : overlapped && found === replaced!.sha256
        ? replaced!
        : null;
      if (source === null) return; // a third write's bytes: its own commit settles them
      intent = await this.options.pointers.announce({
        key: intent.key,
        epoch: source.epoch,
        sha256: found,
        size: source.size,
      });
      ({ pointer: current, replaced } = await this.#commitReplacing(intent, "write"));
    }
  }

  /**
   * Adopts bytes a reader authenticated: a pointer and `blob_written {adopted}`, unless a pointer
   * appeared meanwhile (a write, another adoption), which the adoption never replaces.
   */
  async #adopt(key: string, body: Uint8Array, sha256: string): Promise<void> {
    const intent = await this.options.pointers.announce({
      key,
      epoch: this.#epochOf(body),
      sha256,
      size: body.length,
    });
    await this.#commit(intent, "adopted");
  }

  #epochOf(body: Uint8Array): number | null {
    if (body.length === 0 || !this.options.epochForTag) return null;
    try {
      return this.options.epochForTag(body[0]);
    } catch {
      return null; // not an envelope of a live epoch (legacy blobs, foreign bytes)
    }
  }

  async #checkWritable(): Promise<void> {
    const reason = await this.options.writeBlock?.();
    if (reason) throw new IntegrityBlocked(reason);
  }

  /** Runs `fn` after every earlier write of `key` in this process settled. */
  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.#locks.set(key, tail);
    tail.then(() => {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    });
    return run;
  }
}
