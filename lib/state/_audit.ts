/**
 * The hash-chained, append-only audit log (ARCHITECTURE §9). Each entry is
 * `{seq, at, kind, data, prev, hash}` with
 *
 * ```text
 * hash = hex(SHA-256(prev ‖ canonical JSON of {seq, at, kind, data, prev}))
 * ```
 *
 * where canonical JSON sorts object keys at every level and `prev` of the first entry is 64
 * zeros. Changing, removing or reordering any entry breaks every hash after it, which
 * {@linkcode KvAuditLog.verify} detects; anchoring the head hash on chain (`AuditAnchor`) makes
 * truncation at the end detectable too. `data` must never hold secrets.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { StateContention } from "./_errors.ts";

/** One audit log entry. */
export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  data: Record<string, unknown>;
  prev: string;
  hash: string;
}

/** The outcome of walking the chain. */
export interface AuditVerification {
  ok: boolean;
  /** Entries checked. */
  count: number;
  /** Hash of the last good entry (64 zeros for an empty log). */
  head: string;
  /** The first entry that does not verify, and why. */
  brokenAt?: { seq: number; reason: string };
}

/** What components that log need (the signer CLI, the job runner, the HTTP layer). */
export interface AuditLog {
  /** Appends an entry and returns it. `data` must be JSON and must not hold secrets. */
  append(kind: string, data: Record<string, unknown>): Promise<AuditEntry>;
  /** Walks the whole chain. */
  verify(): Promise<AuditVerification>;
}

/** `prev` of the first entry. */
export const GENESIS_HASH = "0".repeat(64);

const HEAD: Deno.KvKey = ["audit", "head"];
const entryKey = (seq: number): Deno.KvKey => ["audit", "entry", seq];
/** For lib/state/_pointers.ts, which appends in the same atomic operation as a pointer. */
export { entryKey as auditEntryKey, HEAD as AUDIT_HEAD };
/** Appends that lose a race with another process re-read the head and try again. */
const APPEND_ATTEMPTS = 20;

/**
 * JSON with object keys sorted at every level, so a hash does not depend on insertion order.
 *
 * ```ts
 * canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }); // '{"a":[{"c":3,"d":2}],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * The hash of an entry given its fields (pure; `verify` recomputes it).
 *
 * ```ts
 * entryHash({ seq: 1, at, kind: "epoch_rotated", data: { active: 2 }, prev: GENESIS_HASH });
 * ```
 */
export function entryHash(entry: Omit<AuditEntry, "hash">): string {
  const { seq, at, kind, data, prev } = entry;
  return createHash("sha256")
    .update(prev)
    .update(canonicalJson({ seq, at, kind, data, prev }))
    .digest("hex");
}

/**
 * {@linkcode AuditLog} on Deno KV. Appends are atomic (entry and head in one commit, checked
 * against the head read), so two processes sharing the KV file never fork the chain.
 *
 * ```ts
 * const audit = new KvAuditLog(state.kv);
 * await audit.append("epoch_destroyed", { epoch: 1, forced: false });
 * (await audit.verify()).ok; // true
 * ```
 */
export class KvAuditLog implements AuditLog {
  readonly #now: () => Date;

  constructor(readonly kv: Deno.Kv, options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  async append(kind: string, data: Record<string, unknown>): Promise<AuditEntry> {
    if (typeof kind !== "string" || !/^[a-z][a-z0-9_]{0,63}$/.test(kind)) {
      throw new TypeError(`audit kind must be snake_case: ${JSON.stringify(kind)}`);
    }
    // Round-trip through JSON so what is hashed is exactly what a reader gets back.
    const plain = JSON.parse(canonicalJson(data)) as Record<string, unknown>;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      const head = await this.kv.get<{ seq: number; hash: string }>(HEAD);
      const seq = (head.value?.seq ?? 0) + 1;
      const prev = head.value?.hash ?? GENESIS_HASH;
      const body = { seq, at: this.#now().toISOString(), kind, data: plain, prev };
      const entry: AuditEntry = { ...body, hash: entryHash(body) };
      const result = await this.kv.atomic()
        .check(head)
        .set(entryKey(seq), entry)
        .set(HEAD, { seq, hash: entry.hash })
        .commit();
      if (result.ok) return entry;
    }
    throw new StateContention(
      `audit log: could not append after ${APPEND_ATTEMPTS} attempts (contention)`,
    );
  }

  /** The newest entry's `{seq, hash}`, or `{0, GENESIS_HASH}` for an empty log. */
  async head(): Promise<{ seq: number; hash: string }> {
    return (await this.kv.get<{ seq: number; hash: string }>(HEAD)).value ??
      { seq: 0, hash: GENESIS_HASH };
  }

  /** Entries with `seq > after`, oldest first. */
  async *entries(options: { after?: number; limit?: number } = {}): AsyncIterable<AuditEntry> {
    const iter = this.kv.list<AuditEntry>(
      { prefix: ["audit", "entry"], start: entryKey((options.after ?? 0) + 1) },
      { limit: options.limit },
    );
    for await (const item of iter) yield item.value;
  }

  /**
   * A page of entries, newest first: those with `seq < before` (the whole log when absent) that
   * `keep` accepts, at most `limit`; `next` is the `before` of the following page, or null at the
   * start of the log. Looks at no more than `scan` entries per call so a filter that matches
   * little cannot walk an unbounded log in one request (`next` then continues the walk).
   */
  async page(
    options: {
      before?: number;
      limit?: number;
      keep?: (entry: AuditEntry) => boolean;
      scan?: number;
    } = {},
  ): Promise<{ entries: AuditEntry[]; next: number | null }> {
    const limit = options.limit ?? 50;
    const scan = options.scan ?? 5_000;
    const iter = this.kv.list<AuditEntry>(
      {
        prefix: ["audit", "entry"],
        ...(options.before === undefined ? {} : { end: entryKey(options.before) }),
      },
      { reverse: true, limit: scan },
    );
    const entries: AuditEntry[] = [];
    let last: number | null = null;
    let seen = 0;
    for await (const item of iter) {
      seen++;
      last = item.value.seq;
      if (options.keep && !options.keep(item.value)) continue;
      entries.push(item.value);
      if (entries.length === limit) break;
    }
    const exhausted = seen < scan && entries.length < limit;
    return { entries, next: exhausted || last === null || last <= 1 ? null : last };
  }

  async verify(): Promise<AuditVerification> {
    let prev = GENESIS_HASH;
    let expected = 1;
    let count = 0;
    const broken = (seq: number, reason: string): AuditVerification => ({
      ok: false,
      count,
      head: prev,
      brokenAt: { seq, reason },
    });
    for await (const item of this.kv.list<AuditEntry>({ prefix: ["audit", "entry"] })) {
      const e = item.value;
      const keySeq = item.key[2] as number;
      if (keySeq !== expected || e.seq !== expected) {
        return broken(expected, `expected entry ${expected}, found ${e.seq} at key ${keySeq}`);
      }
      if (e.prev !== prev) return broken(e.seq, "prev does not match the previous entry's hash");
      if (entryHash(e) !== e.hash) return broken(e.seq, "hash does not match the entry");
      prev = e.hash;
      expected++;
      count++;
    }
    const head = await this.head();
    if (head.seq !== count || head.hash !== prev) {
      return broken(count + 1, `head says ${head.seq} entries, ${count} found`);
    }
    return { ok: true, count, head: prev };
  }
}
