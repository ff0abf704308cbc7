/**
 * {@linkcode ChangeCounter}: lets a process cache KV data that other processes on the same KV
 * file may change (the blob pointers every checked read compares with, the logout denylist every
 * request consults) and still see their changes at once.
 *
 * Why: a Deno KV read costs this service 50–400 µs (a hop to KV's thread), and a checked blob
 * read or a cap check makes one per request. A counter in a small file beside the KV file costs
 * one 8-byte synchronous read (about 3 µs). Every writer of cached data bumps it *after* its KV
 * commit; a reader looks at it before trusting its cache and drops the cache when someone else
 * moved it. A change is therefore seen by every read that starts after the writer's commit
 * returned — the same guarantee a KV read gives. A read overlapping a write may see either side,
 * as with KV.
 *
 * Each cache registers ({@linkcode ChangeCounter.register}) and bumps through its handle: a bump
 * drops the *other* caches of this process too (two denylists on one state store must not miss
 * each other's logouts), while the writer keeps its own and updates it itself. An entry filled
 * from a KV read is kept only if the cache's `generation` did not move while the read ran:
 * otherwise a read that began before a commit could put the old value back after the cache was
 * dropped for that commit.
 *
 * The file holds one little-endian u64; it only grows. A torn read cannot hurt: it can only
 * differ from the value this process knows, which drops the cache. A file deleted or renamed over
 * while processes run is noticed at the next check or bump (its link count is 0): the process
 * opens the new one and drops every cache. Without a file (`null`, an
 * in-memory KV) the counter is local to the process, which is then the only writer.
 *
 * ```ts
 * const changes = ChangeCounter.open("/data/state.kv.changes");
 * const handle = changes.register(() => cache.clear());
 * changes.check();                          // before trusting `cache`
 * await kv.set(key, value); handle.bump();  // after a write of cached data, then update `cache`
 * ```
 *
 * @module
 */

/** One cache's registration with a {@linkcode ChangeCounter}. */
export interface CacheHandle {
  /** Grows whenever this cache is dropped: keep a KV read's result only if unchanged across it. */
  readonly generation: number;
  /** After the cache's owner committed a change of cached data: tells every other cache. */
  bump(): void;
}

interface Registered {
  drop: () => void;
  generation: number;
}

export class ChangeCounter {
  #file: Deno.FsFile | null;
  readonly #path: string | null;
  readonly #buf = new Uint8Array(8);
  readonly #view = new DataView(this.#buf.buffer);
  readonly #caches: Registered[] = [];
  /** The file's value as far as this process's caches know. */
  #seen = 0n;

  private constructor(path: string | null) {
    this.#path = path;
    this.#file = path === null ? null : openCounter(path);
    if (this.#file) this.#seen = this.#read();
  }

  /** Opens (creating, mode 0600) the counter file at `path`; `null`: a process-local counter. */
  static open(path: string | null): ChangeCounter {
    return new ChangeCounter(path);
  }

  /** Registers a cache: `drop` is called whenever someone else changed what it caches. */
  register(drop: () => void): CacheHandle {
    const entry: Registered = { drop, generation: 0 };
    this.#caches.push(entry);
    return {
      get generation() {
        return entry.generation;
      },
      bump: () => this.#bump(entry),
    };
  }

  /** Before trusting a cache: drops every cache if another process bumped since last seen. */
  check(): void {
    if (!this.#file) return;
    this.#followReplaced();
    const now = this.#read();
    if (now !== this.#seen) {
      this.#seen = now;
      this.#drop();
    }
  }

  /**
   * After `by`'s owner committed a change to cached data. Under an exclusive lock so that two
   * processes never write the same value (one bump would hide the other's).
   */
  #bump(by: Registered): void {
    if (!this.#file) return this.#drop(by);
    this.#followReplaced();
    let foreign: boolean;
    this.#file.lockSync(true);
    try {
      const now = this.#read();
      this.#view.setBigUint64(0, now + 1n, true);
      this.#file.seekSync(0, Deno.SeekMode.Start);
      let written = 0;
      while (written < 8) written += this.#file.writeSync(this.#buf.subarray(written));
      foreign = now !== this.#seen;
      this.#seen = now + 1n;
    } finally {
      this.#file.unlockSync();
    }
    // A change by another process not seen yet drops every cache, the bumper's too.
    this.#drop(foreign ? undefined : by);
  }

  close(): void {
    this.#file?.close();
  }

  /**
   * The file deleted or renamed over while this process runs (fourth review): processes started
   * since use the new one, so this one follows, and drops every cache — what it missed is
   * unknown. One `fstat` (~1.5 µs).
   */
  #followReplaced(): void {
    if (this.#file!.statSync().nlink !== 0) return;
    this.#file!.close();
    this.#file = openCounter(this.#path!);
    this.#seen = this.#read();
    this.#drop();
  }

  #read(): bigint {
    const file = this.#file!;
    file.seekSync(0, Deno.SeekMode.Start);
    this.#buf.fill(0);
    let got = 0;
    while (got < 8) {
      const n = file.readSync(this.#buf.subarray(got));
      if (n === null || n === 0) break; // a new, empty file reads as 0
      got += n;
    }
    return this.#view.getBigUint64(0, true);
  }

  /** Drops every cache but `except`. */
  #drop(except?: Registered): void {
    for (const c of this.#caches) {
      if (c === except) continue;
      c.generation++;
      c.drop();
    }
  }
}

function openCounter(path: string): Deno.FsFile {
  return Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
}
