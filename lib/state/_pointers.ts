/**
 * Blob pointers on Deno KV (ARCHITECTURE §13): for every blob key, the version, epoch, SHA-256
 * and size of the bytes the store must hold, written with an intent before the store write and
 * committed after it. `lib/integrity` decides when to record what; this module only keeps the
 * records consistent under concurrent writers and several processes sharing the KV file.
 *
 * KV layout (all under `["integrity", …]`):
 *
 * - `version, <key>` → the highest version ever allocated for the key (only grows).
 * - `intent, <key>, <version>` → a write announced but not yet committed.
 * - `ptr, <key>` → the committed pointer (`sha256: null` is a tombstone).
 * - `seq` → `{seq, count}`: every commit increments `seq` (the change counter anchored on
 *   chain); `count` is the number of pointers (tombstones included).
 * - `change, <seq>` → the key a commit changed, so a Merkle tree held in memory can catch up.
 *
 * A commit writes the pointer, the counter, the change entry and the audit entry
 * (`blob_written` / `blob_deleted`, see {@linkcode KvAuditLog}) in one atomic operation: the audit
 * log never misses a committed pointer and never records one that was not committed.
 *
 * @module
 */

import {
  AUDIT_HEAD,
  type AuditEntry,
  auditEntryKey,
  canonicalJson,
  entryHash,
  GENESIS_HASH,
} from "./_audit.ts";
import { StateContention } from "./_errors.ts";
import type { CacheHandle, ChangeCounter } from "./_changes.ts";

/** What the state store knows a blob should be. */
export interface BlobPointer {
  key: string;
  /**
   * The K3 epoch the blob's first byte names (`null`: none that is live). Read from that byte
   * alone, without decrypting: a legacy blob whose first byte is its format version (1 or 2)
   * shows epoch 1 or 2 until it is migrated. Informational; nothing counts by it.
   */
  epoch: number | null;
  /** Per key; only grows. */
  version: number;
  /** Lowercase hex SHA-256 of the ciphertext; `null`: deleted (a tombstone). */
  sha256: string | null;
  size: number;
  written_at: string;
  /** The change counter value this pointer was committed at. */
  seq: number;
  /** Hex of the Merkle path and leaf (lib/integrity), computed once at commit. */
  path?: string;
  leaf?: string;
}

/** The part of a pointer a checked read compares with (a range read from byte 0: the epoch). */
export type PointerDigest = Pick<BlobPointer, "version" | "sha256" | "epoch">;

/** A write announced before it reaches the store. */
export interface PointerIntent {
  key: string;
  version: number;
  epoch: number | null;
  sha256: string | null;
  size: number;
  at: string;
  /**
   * The change counter when the intent was announced. A pointer of the key committed after it
   * with a lower version was written concurrently: its bytes may have landed after these.
   */
  seen_seq?: number;
}

/** What a commit made current, and the pointer it replaced (`null`: none, or nothing replaced). */
export interface CommitOutcome {
  pointer: BlobPointer | null;
  replaced: BlobPointer | null;
  /** Whether this call committed `pointer` (not another commit of the same or a newer version). */
  committed: boolean;
}

/** Why a pointer is committed: a write, its recovery by a later read, or an adoption. */
export type CommitReason = "write" | "recovered" | "adopted";

const ATTEMPTS = 50;
/** Deno KV's `getMany` reads at most 10 keys. */
const MAX_GET_MANY = 10;

/** What {@linkcode KvPointerStore.announce} is given. */
export interface AnnounceInput {
  key: string;
  epoch: number | null;
  sha256: string | null;
  size: number;
}

/**
 * Queues calls and runs them in batches of up to `size` (those `fits` accepts together), one
 * batch at a time: a lone call runs at once, concurrent ones share a KV round trip.
 */
interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

class Batcher<I, O> {
  #queue: Waiting<I, O>[] = [];
  #running = false;

  constructor(
    readonly size: number,
    readonly fits: (batch: I[], next: I) => boolean,
    readonly run: (items: I[]) => Promise<O[]>,
  ) {}

  push(item: I): Promise<O> {
    const { promise, resolve, reject } = Promise.withResolvers<O>();
    this.#queue.push({ item, resolve, reject });
    if (!this.#running) void this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch: Waiting<I, O>[] = [];
        const rest: Waiting<I, O>[] = [];
        for (const q of this.#queue) {
          if (batch.length < this.size && this.fits(batch.map((b) => b.item), q.item)) {
            batch.push(q);
          } else rest.push(q);
        }
        this.#queue = rest;
        try {
          const out = await this.run(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(out[i]));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
/** Commits per KV transaction: getMany reads at most 10 keys (8 pointers, counter, audit head). */
const GROUP = 8;
const versionKey = (key: string): Deno.KvKey => ["integrity", "version", key];
const intentKey = (key: string, version: number): Deno.KvKey => [
  "integrity",
  "intent",
  key,
  version,
];
const ptrKey = (key: string): Deno.KvKey => ["integrity", "ptr", key];
const SEQ: Deno.KvKey = ["integrity", "seq"];
const BLOCK: Deno.KvKey = ["integrity", "blocked"];
const ANCHOR: Deno.KvKey = ["integrity", "anchor"];
const ACK: Deno.KvKey = ["integrity", "acknowledged"];
const PENDING_ANCHOR: Deno.KvKey = ["integrity", "anchor_pending"];

/** Why writes are refused, and the anchors on chain that showed it. */
export interface BlockRecord {
  reason: string;
  at: string;
  chain_root: string;
  chain_seq: number;
  chain_count: number;
  local_seq: number;
  chain_audit_head: string;
  chain_audit_count: number;
  local_audit_count: number;
}

/** One anchor as mined: the pointers' root at `seq` and the audit log's head at `audit_count`. */
export interface AnchorRecord {
  /** 0x + 64 hex. */
  root: string;
  seq: number;
  count: number;
  tx_hash: string | null;
  block: number | null;
  /** 0x + 64 hex. */
  audit_head: string;
  audit_count: number;
  audit_tx_hash: string | null;
  audit_block: number | null;
  at: string;
}
const changeKey = (seq: number): Deno.KvKey => ["integrity", "change", seq];

/** What an anchor about to be sent will put on chain (0x-hex root and audit head). */
export type PendingAnchor = Pick<AnchorRecord, "root" | "seq" | "audit_head" | "audit_count">;

/** `{seq, count}` of the pointer set. */
export interface PointerSeq {
  seq: number;
  count: number;
}

/**
 * ```ts
 * const pointers = new KvPointerStore(state.kv);
 * const intent = await pointers.announce({ key, epoch: 2, sha256, size });
 * await store.put(key, bytes);
 * await pointers.commit(intent, "write");
 * (await pointers.get(key))?.sha256 === sha256; // true
 * ```
 */
export class KvPointerStore {
  readonly #now: () => Date;
  readonly #leafOf?: (p: BlobPointer) => { path: string; leaf: string };
  readonly #changes?: ChangeCounter;
  readonly #cache?: CacheHandle;
  /** Key → what its committed pointer says, for {@linkcode expected}; least recently used first. */
  readonly #digests = new Map<string, PointerDigest | null>();
  readonly #maxCached: number;

  /**
   * `leafOf` (lib/integrity's hashing) stores each pointer's Merkle path and leaf with it, so a
   * start rebuilds the tree without hashing every pointer again. `changes` (the state store's
   * counter) lets {@linkcode expected} answer from memory; without it every call reads KV.
   */
  constructor(
    readonly kv: Deno.Kv,
    options: {
      now?: () => Date;
      leafOf?: (p: BlobPointer) => { path: string; leaf: string };
      changes?: ChangeCounter;
      /** Digests kept for {@linkcode expected} (default 50,000: about 21 MiB at 120-byte keys). */
      maxCached?: number;
    } = {},
  ) {
    this.#now = options.now ?? (() => new Date());
    this.#leafOf = options.leafOf;
    this.#changes = options.changes;
    this.#cache = this.#changes?.register(() => this.#digests.clear());
    this.#maxCached = options.maxCached ?? 50_000;
  }

  /** The committed pointer of `key`, or `null`, read from KV. */
  get(key: string): Promise<BlobPointer | null> {
    const generation = this.#cache?.generation;
    return this.#gets.push(key).then((pointer) => {
      this.#remember(key, pointer, generation);
      return pointer;
    });
  }

  /**
   * What the committed pointer of `key` says (version and hash), from memory when this process
   * has it and no process changed pointers since (the change counter); else from KV. What a
   * checked read compares the bytes with before it looks further.
   */
  async expected(key: string): Promise<PointerDigest | null> {
    const hit = this.cachedExpectation(key);
    if (hit !== undefined) return hit;
    const generation = this.#cache?.generation;
    const pointer = await this.#gets.push(key);
    this.#remember(key, pointer, generation);
    return pointer && digestOf(pointer);
  }

  /**
   * {@linkcode expected} when it can answer from memory (synchronously: a checked read saves a
   * turn of the event loop), `undefined` when it would have to read KV.
   */
  cachedExpectation(key: string): PointerDigest | null | undefined {
    if (!this.#changes) return undefined;
    this.#changes.check();
    const hit = this.#digests.get(key);
    if (hit !== undefined) {
      this.#digests.delete(key); // most recently used last: the first entry is evicted first
      this.#digests.set(key, hit);
    }
    return hit;
  }

  /** Caches `key`'s pointer unless the cache was dropped since `generation` was taken. */
  #remember(key: string, pointer: BlobPointer | null, generation: number | undefined): void {
    if (!this.#cache || this.#cache.generation !== generation) return;
    const known = this.#digests.get(key);
    // Never replace a newer version a commit of this process put here while KV was read.
    if (known && (pointer === null || known.version > pointer.version)) return;
    this.#digests.delete(key); // re-inserted last: the oldest entry goes first
    this.#digests.set(key, pointer && digestOf(pointer));
    if (this.#digests.size > this.#maxCached) {
      this.#digests.delete(this.#digests.keys().next().value!);
    }
  }

  /** Concurrent reads (every checked blob read makes one) share `getMany` calls. */
  readonly #gets = new Batcher<string, BlobPointer | null>(
    MAX_GET_MANY,
    () => true,
    async (keys) => (await this.kv.getMany<BlobPointer[]>(keys.map(ptrKey))).map((e) => e.value),
  );

  /** Concurrent announces of distinct keys share one read (and the counter) and one transaction. */
  readonly #announces = new Batcher<AnnounceInput, PointerIntent>(
    MAX_GET_MANY - 1,
    (batch, next) => !batch.some((w) => w.key === next.key),
    (writes) => this.#announceBatch(writes),
  );

  /** Uncommitted intents of `key` with a version above `above`, oldest first. */
  async intents(key: string, above = 0): Promise<PointerIntent[]> {
    const out: PointerIntent[] = [];
    const iter = this.kv.list<PointerIntent>({
      start: intentKey(key, above + 1),
      end: [...intentKey(key, Number.MAX_SAFE_INTEGER)],
    });
    for await (const item of iter) out.push(item.value);
    return out;
  }

  /** Allocates the next version of `key` and records the intent, durably, before the write. */
  announce(write: AnnounceInput): Promise<PointerIntent> {
    return this.#announces.push(write);
  }

  async #announceBatch(writes: AnnounceInput[]): Promise<PointerIntent[]> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const read = await this.kv.getMany<unknown[]>([...writes.map((w) => versionKey(w.key)), SEQ]);
      const current = read.slice(0, writes.length) as Deno.KvEntryMaybe<number>[];
      // Read, not checked: a commit meanwhile only makes a later overlap check look (cheap).
      const seen = (read[writes.length].value as PointerSeq | null)?.seq ?? 0;
      const at = this.#now().toISOString();
      const intents = writes.map((w, i): PointerIntent => ({
        ...w,
        version: (current[i].value ?? 0) + 1,
        at,
        seen_seq: seen,
      }));
      const op = this.kv.atomic().check(...current);
      for (const intent of intents) {
        op.set(versionKey(intent.key), intent.version).set(
          intentKey(intent.key, intent.version),
          intent,
        );
      }
      if ((await op.commit()).ok) return intents;
    }
    throw new StateContention(`pointers: could not announce ${writes.length} writes (contention)`);
  }

  /** Drops an intent whose write certainly did not happen (a refused compare-and-swap). */
  async withdraw(intent: PointerIntent): Promise<void> {
    await this.kv.delete(intentKey(intent.key, intent.version));
  }

  /**
   * Commits `intent` as the key's pointer unless a newer version is committed already (then it
   * only drops the intent) and appends the audit entry in the same atomic operation. Returns the
   * pointer now current.
   */
  commit(intent: PointerIntent, reason: CommitReason): Promise<BlobPointer | null> {
    return this.commitReplacing(intent, reason).then((outcome) => outcome.pointer);
  }

  /** {@linkcode commit}, also answering the pointer the commit replaced. */
  commitReplacing(intent: PointerIntent, reason: CommitReason): Promise<CommitOutcome> {
    // Group commit: every commit touches the change counter and the audit head, so concurrent
    // ones would keep invalidating each other's checks. Queued commits of this process go out
    // together, up to GROUP per KV transaction, one transaction at a time.
    const { promise, resolve, reject } = Promise.withResolvers<CommitOutcome>();
    this.#queue.push({ intent, reason, resolve, reject });
    if (!this.#draining) this.#drain();
    return promise;
  }

  #queue: Queued[] = [];
  #draining = false;

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        // One intent per key in a group (getMany reads each pointer once).
        const group: Queued[] = [];
        const keys = new Set<string>();
        const rest: Queued[] = [];
        for (const q of this.#queue) {
          if (group.length < GROUP && !keys.has(q.intent.key)) {
            group.push(q);
            keys.add(q.intent.key);
          } else rest.push(q);
        }
        this.#queue = rest;
        try {
          const results = await this.#commitGroup(group);
          group.forEach((q, i) => q.resolve(results[i]));
        } catch (err) {
          for (const q of group) q.reject(err);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #commitGroup(group: Queued[]): Promise<CommitOutcome[]> {
    const generation = this.#cache?.generation;
    let results: CommitOutcome[];
    try {
      results = await this.#commitGroupOnce(group);
    } finally {
      // Also after a failure: whether a failed commit landed is unknown, other caches must look.
      this.#cache?.bump();
    }
    group.forEach(({ intent }, i) => this.#remember(intent.key, results[i].pointer, generation));
    return results;
  }

  async #commitGroupOnce(group: Queued[]): Promise<CommitOutcome[]> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const read = await this.kv.getMany<unknown[]>([
        SEQ,
        AUDIT_HEAD,
        ...group.map((q) => ptrKey(q.intent.key)),
      ]);
      const [seq, head] = read as [Deno.KvEntryMaybe<PointerSeq>, Deno.KvEntryMaybe<AuditHead>];
      const ptrs = read.slice(2) as Deno.KvEntryMaybe<BlobPointer>[];
      let s = seq.value ?? { seq: 0, count: 0 };
      let h = head.value;
      const op = this.kv.atomic().check(seq, head, ...ptrs);
      const results: CommitOutcome[] = [];
      group.forEach(({ intent, reason }, i) => {
        const current = ptrs[i].value;
        // A newer version is current; or an adoption (for a blob without a pointer) finds that
        // a write or another adoption committed one meanwhile: it never replaces a pointer.
        if (current && (current.version >= intent.version || reason === "adopted")) {
          op.delete(intentKey(intent.key, intent.version));
          results.push({ pointer: current, replaced: null, committed: false });
          return;
        }
        s = { seq: s.seq + 1, count: s.count + (current ? 0 : 1) };
        const pointer: BlobPointer = {
          key: intent.key,
          epoch: intent.epoch,
          version: intent.version,
          sha256: intent.sha256,
          size: intent.size,
          written_at: intent.at,
          seq: s.seq,
        };
        if (this.#leafOf) Object.assign(pointer, this.#leafOf(pointer));
        const entry = this.#auditEntry(
          h,
          intent.sha256 === null ? "blob_deleted" : "blob_written",
          {
            key: intent.key,
            version: intent.version,
            seq: s.seq,
            ...(intent.sha256 === null ? {} : {
              sha256: intent.sha256,
              size: intent.size,
              epoch: intent.epoch,
            }),
            ...(reason === "write" ? {} : { [reason]: true }),
          },
        );
        h = { seq: entry.seq, hash: entry.hash };
        op.set(ptrKey(intent.key), pointer)
          .set(changeKey(s.seq), intent.key)
          .delete(intentKey(intent.key, intent.version))
          .set(auditEntryKey(entry.seq), entry);
        results.push({ pointer, replaced: current, committed: true });
      });
      op.set(SEQ, s);
      if (h) op.set(AUDIT_HEAD, h);
      if ((await op.commit()).ok) return results;
    }
    throw new StateContention(`pointers: could not commit ${group.length} pointers (contention)`);
  }

  /**
   * Why writes are refused, or `null`: set when the state store was found older than the
   * latest anchor on chain, cleared by an admin's acknowledgement. Cached for a second.
   */
  async writeBlock(): Promise<string | null> {
    const now = Date.now();
    if (now - this.#blockReadAt > 1000) {
      this.#blockReadAt = now;
      const entry = await this.kv.get<{ reason: string }>(BLOCK);
      this.#block = entry.value?.reason ?? null;
    }
    return this.#block;
  }
  #block: string | null = null;
  #blockReadAt = -Infinity;

  /** Refuses writes with `reason` until {@linkcode unblock} (an admin acknowledges). */
  async block(reason: string, detail: Omit<BlockRecord, "reason" | "at">): Promise<void> {
    await this.kv.set(BLOCK, { reason, ...detail, at: this.#now().toISOString() });
    this.#blockReadAt = -Infinity;
  }

  /** The block record, or `null`. */
  async blocked(): Promise<BlockRecord | null> {
    return (await this.kv.get<BlockRecord>(BLOCK)).value;
  }

  /** Lifts a block and audits who acknowledged it. */
  async unblock(by: string): Promise<boolean> {
    const entry = await this.kv.get<BlockRecord>(BLOCK);
    if (entry.value === null) return false;
    const b = entry.value;
    // The chain's anchors become the base: the change counter continues after the anchored
    // one (VaultAnchor refuses a seq that does not grow), audit anchors resume once the log has
    // grown past the anchored count, and the start-up check accepts exactly these anchors.
    const seq = await this.kv.get<PointerSeq>(SEQ);
    const s = seq.value ?? { seq: 0, count: 0 };
    const base: AnchorRecord = {
      root: b.chain_root,
      seq: b.chain_seq,
      count: b.chain_count,
      tx_hash: null,
      block: null,
      audit_head: b.chain_audit_head,
      audit_count: b.chain_audit_count,
      audit_tx_hash: null,
      audit_block: null,
      at: this.#now().toISOString(),
    };
    const ok = await this.kv.atomic()
      .check(entry, seq)
      .delete(BLOCK)
      .set(SEQ, { seq: Math.max(s.seq, b.chain_seq), count: s.count })
      .set(ANCHOR, base)
      .set(ACK, base)
      .commit();
    if (!ok.ok) throw new StateContention("pointers: the block changed while acknowledging");
    await this.audit("integrity_acknowledged", { by, block: { ...b } });
    this.#blockReadAt = -Infinity;
    return true;
  }

  /** The chain anchors an admin accepted as the base after a detected rollback, or `null`. */
  async acknowledged(): Promise<AnchorRecord | null> {
    return (await this.kv.get<AnchorRecord>(ACK)).value;
  }

  /** The latest anchor this state store recorded, or `null`. */
  async latestAnchor(): Promise<AnchorRecord | null> {
    return (await this.kv.get<AnchorRecord>(ANCHOR)).value;
  }

  /**
   * Records an anchor that was mined, and forgets the pending anchors it covers (the chain's
   * latest is this one or newer from here on).
   */
  async saveAnchor(record: AnchorRecord): Promise<void> {
    await this.kv.set(ANCHOR, record);
    for (const p of await this.#pendingEntries()) {
      if (p.value.seq <= record.seq && p.value.audit_count <= record.audit_count) {
        await this.kv.delete(p.key);
      }
    }
  }

  /**
   * Records an anchor about to be sent, before its transactions: a crash after they are mined
   * and before {@linkcode saveAnchor} must not make the chain's latest anchor look like one this
   * state store never knew (the start-up check's sign of a restored copy). One record per
   * attempt, kept until a recorded anchor covers it: a retry with newer values must not replace
   * the record of an attempt whose transaction was mined although its call failed.
   */
  async savePendingAnchor(record: PendingAnchor): Promise<void> {
    await this.kv.set([...PENDING_ANCHOR, record.seq, record.audit_count], record);
  }

  /** The anchors about to be sent and not yet covered by a recorded one. */
  async pendingAnchors(): Promise<PendingAnchor[]> {
    return (await this.#pendingEntries()).map((e) => e.value);
  }

  async #pendingEntries(): Promise<Deno.KvEntry<PendingAnchor>[]> {
    return await Array.fromAsync(this.kv.list<PendingAnchor>({ prefix: PENDING_ANCHOR }));
  }

  /** `{seq, count}` now. */
  async seq(): Promise<PointerSeq> {
    return (await this.kv.get<PointerSeq>(SEQ)).value ?? { seq: 0, count: 0 };
  }

  /** Every committed pointer, in KV key order. */
  async *all(): AsyncIterable<BlobPointer> {
    for await (const item of this.kv.list<BlobPointer>({ prefix: ["integrity", "ptr"] })) {
      yield item.value;
    }
  }

  /** Keys changed by commits with `seq > after` (oldest first), with the seq of each. */
  async *changes(after: number): AsyncIterable<{ seq: number; key: string }> {
    const iter = this.kv.list<string>({
      prefix: ["integrity", "change"],
      start: changeKey(after + 1),
    });
    for await (const item of iter) yield { seq: item.key[2] as number, key: item.value };
  }

  /** Forgets change entries with `seq <= upTo` (after a tree holder consumed them). */
  async pruneChanges(upTo: number): Promise<void> {
    const iter = this.kv.list({ prefix: ["integrity", "change"], end: changeKey(upTo + 1) });
    let op = this.kv.atomic();
    let n = 0;
    for await (const item of iter) {
      op = op.delete(item.key);
      if (++n % 500 === 0) {
        await op.commit();
        op = this.kv.atomic();
      }
    }
    if (n % 500 !== 0) await op.commit();
  }

  /**
   * Appends an audit entry about integrity (a mismatch, an adoption refused) without a pointer
   * change — the same hash chain as {@linkcode KvAuditLog}.
   */
  async audit(kind: string, data: Record<string, unknown>): Promise<AuditEntry> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const head = await this.kv.get<AuditHead>(AUDIT_HEAD);
      const entry = this.#auditEntry(head.value, kind, data);
      const result = await this.kv.atomic()
        .check(head)
        .set(auditEntryKey(entry.seq), entry)
        .set(AUDIT_HEAD, { seq: entry.seq, hash: entry.hash })
        .commit();
      if (result.ok) return entry;
    }
    throw new StateContention(`audit log: could not append ${kind} (contention)`);
  }

  #auditEntry(head: AuditHead | null, kind: string, data: Record<string, unknown>): AuditEntry {
    const plain = JSON.parse(canonicalJson(data)) as Record<string, unknown>;
    const body = {
      seq: (head?.seq ?? 0) + 1,
      at: this.#now().toISOString(),
      kind,
      data: plain,
      prev: head?.hash ?? GENESIS_HASH,
    };
    return { ...body, hash: entryHash(body) };
  }

  /**
   * Intents at or below a committed version can no longer become current (left by a crash
   * between announce and commit): drop them. Readers call it when they look at intents anyway.
   */
  async dropStaleIntents(key: string, version: number): Promise<void> {
    const iter = this.kv.list({ start: intentKey(key, 0), end: intentKey(key, version + 1) });
    for await (const item of iter) await this.kv.delete(item.key);
  }
}

function digestOf({ version, sha256, epoch }: BlobPointer): PointerDigest {
  return { version, sha256, epoch };
}

interface Queued {
  intent: PointerIntent;
  reason: CommitReason;
  resolve: (outcome: CommitOutcome) => void;
  reject: (err: unknown) => void;
}

interface AuditHead {
  seq: number;
  hash: string;
}
