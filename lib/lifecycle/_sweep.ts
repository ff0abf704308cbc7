/**
 * The TTL sweep of idle memory and inbound blobs (never credentials), and the store wrapper that
 * records when the worker last read or wrote each of them.
 *
 * **Where "idle" lives**: a last-access time per object in the state store
 * (`["lifecycle","touch",key]`), written by {@linkcode TouchingStore} — the store the worker is
 * given — on every write (before the write, unthrottled, awaited) and on reads (at most once per
 * `touchEveryMs` per key and process, so reads do not each cost a KV write, and without waiting
 * for it). Not the store's
 * modification time: the eager re-encryption job rewrites every blob, which is not a use. A blob
 * the sweep finds without a record gets one (first seen now), so blobs from before the TTL was
 * turned on get a whole TTL.
 *
 * **Never a blob written during the sweep**: the sweep reads the blob (its etag), then the
 * access time, and deletes only with that etag (compare-and-swap). A write records its access
 * time before it writes, so a write the sweep's read saw has a fresh time, and a write after the
 * read changes the etag and the delete is refused.
 *
 * @module
 */

import type { BlobStore, PutConditions } from "../store/mod.ts";
import { PreconditionFailed } from "../store/mod.ts";
import type { AuditLog } from "../state/mod.ts";
import type { LifecycleStore } from "./_store.ts";

type SweptClass = "memory" | "inbound";

/** The class of a vault key, from its layout (`bots/<actor>/<class>/…`). */
export function sweptClassOf(key: string): SweptClass | undefined {
  const parts = key.split("/");
  if (parts[0] !== "bots" || parts.length < 4) return undefined;
  if (parts[2] === "memory" && parts.length === 5) return "memory";
  if (parts[2] === "inbound" && parts.length === 4) return "inbound";
  return undefined;
}

/** TTLs per class in ms; `null` is off. */
export interface Ttls {
  memory: number | null;
  inbound: number | null;
}

/**
 * A {@linkcode BlobStore} that records the access times the sweep reads; everything else passes
 * through unchanged.
 *
 * ```ts
 * const workerStore = new TouchingStore(store, new LifecycleStore(kv), { memory: 30 * 86400e3, inbound: null });
 * ```
 */
export class TouchingStore implements BlobStore {
  readonly #recent = new Map<string, number>();
  readonly #everyMs: number;

  constructor(
    readonly inner: BlobStore,
    readonly touches: Pick<LifecycleStore, "touch">,
    readonly ttls: Ttls,
    readonly now: () => number = Date.now,
  ) {
    const set = [ttls.memory, ttls.inbound].filter((t): t is number => t !== null);
    // A read may be recorded up to this late: 5 % of the shortest TTL, at most an hour.
    this.#everyMs = Math.min(3600_000, Math.min(...set, Infinity) / 20);
  }

  get kind(): "fs" | "s3" {
    return this.inner.kind;
  }

  #tracked(key: string): boolean {
    const c = sweptClassOf(key);
    return c !== undefined && this.ttls[c] !== null;
  }

  async get(key: string): ReturnType<BlobStore["get"]> {
    const blob = await this.inner.get(key);
    if (blob !== null && this.#tracked(key)) {
      const now = this.now();
      const last = this.#recent.get(key);
      if (last === undefined || now - last >= this.#everyMs) {
        // Not awaited: a read need not wait for its record (a KV commit is milliseconds on
        // disk, bench/lifecycle.ts); only writes must be recorded before they happen.
        this.touches.touch(key, now).catch(() => this.#recent.delete(key));
        this.#recent.delete(key);
        this.#recent.set(key, now);
        if (this.#recent.size > 10_000) this.#recent.delete(this.#recent.keys().next().value!);
      }
    }
    return blob;
  }

  async put(key: string, body: Uint8Array, conditions?: PutConditions): Promise<{ etag: string }> {
    // Before the write: see the module doc.
    if (this.#tracked(key)) await this.touches.touch(key, this.now());
    return await this.inner.put(key, body, conditions);
  }

  getRange(key: string, start: number, end: number) {
    return this.inner.getRange(key, start, end);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  delete(key: string, conditions?: { ifMatch?: string }) {
    return this.inner.delete(key, conditions);
  }
  list(prefix: string, options?: Parameters<BlobStore["list"]>[1]) {
    return this.inner.list(prefix, options);
  }
  close() {
    return this.inner.close();
  }
}

/** The audit log's record of one swept blob. */
export interface Tombstone {
  key: string;
  class: SweptClass;
  idle_seconds: number;
  ttl_seconds: number;
}

/** What one sweep did. */
export interface SweepResult {
  examined: number;
  deleted: number;
  /** First seen by this sweep: their TTL starts now. */
  first_seen: number;
  /** Changed between the sweep's read and its delete: kept. */
  changed: number;
  /**
   * Refused by the integrity check (lib/integrity, audited there): kept as evidence, and the
   * sweep goes on — one tampered blob must not stop every later pass at the same key.
   */
  refused: number;
}

/** Deletes idle memory and inbound blobs; see the module doc. */
export class TtlSweeper {
  constructor(
    readonly deps: {
      store: BlobStore;
      touches: Pick<LifecycleStore, "touch" | "lastTouch" | "forget">;
      audit: AuditLog;
      ttls: Ttls;
      now?: () => number;
    },
  ) {}

  /**
   * One pass over the store. `hooks.deleting` runs before each delete with the tombstone it will
   * write, and with `null` once that tombstone is in the audit log (the scheduler records it, so a
   * crash between the delete and the audit entry still leaves exactly one tombstone).
   */
  async sweep(
    signal?: AbortSignal,
    hooks: { deleting?: (tombstone: Tombstone | null) => Promise<void> } = {},
  ): Promise<SweepResult> {
    const { store, touches, audit, ttls } = this.deps;
    const now = this.deps.now ?? Date.now;
    const started = now();
    const result: SweepResult = {
      examined: 0,
      deleted: 0,
      first_seen: 0,
      changed: 0,
      refused: 0,
    };
    for await (const item of store.list("bots/")) {
      signal?.throwIfAborted();
      const cls = sweptClassOf(item.key);
      const ttl = cls === undefined ? null : ttls[cls];
      if (ttl === null) continue; // credentials, and classes without a TTL
      result.examined++;
      const seen = await touches.lastTouch(item.key);
      if (seen === null) {
        await touches.touch(item.key, started);
        result.first_seen++;
        continue;
      }
      if (started - seen < ttl) continue;
      let blob: Awaited<ReturnType<BlobStore["get"]>>;
      try {
        blob = await store.get(item.key);
      } catch (err) {
        if ((err as { code?: unknown }).code !== "integrity_mismatch") throw err;
        result.refused++;
        continue;
      }
      if (blob === null) continue;
      // Decisive check, after the read: a write the read saw recorded its time before it wrote.
      if ((await touches.lastTouch(item.key)) !== seen) {
        result.changed++;
        continue;
      }
      const tombstone: Tombstone = {
        key: item.key,
        class: cls!,
        idle_seconds: Math.round((started - seen) / 1000),
        ttl_seconds: Math.round(ttl! / 1000),
      };
      await hooks.deleting?.(tombstone);
      let deleted: boolean;
      try {
        deleted = await store.delete(item.key, { ifMatch: blob.etag });
      } catch (err) {
        if (!(err instanceof PreconditionFailed)) throw err;
        result.changed++;
        deleted = false;
      }
      if (!deleted) {
        await hooks.deleting?.(null);
        continue;
      }
      result.deleted++;
      // The tombstone: what was deleted and why; no content.
      await audit.append("ttl_swept", { ...tombstone });
      await hooks.deleting?.(null);
      await touches.forget(item.key);
    }
    return result;
  }
}
