/**
 * {@linkcode retryingBusy}: Deno KV with SQLite's "database is locked" survived in one place.
 *
 * Why: two processes may share a data directory's `state.kv` (`deno task reencrypt` runs
 * headless beside the service). SQLite lets one connection write at a time; a writer that finds
 * the lock taken polls for it (Deno KV's busy timeout, about 5 s, with SQLite's back-off of up to
 * 100 ms between looks) and then throws `TypeError: database is locked`. A process that commits
 * back to back — a re-encryption job, a busy service — can hold the lock at nearly every look of
 * the other, so the other's write fails although no single transaction was long (the fifth
 * review measured 303 of 1,500 blobs failed, and 500s in the service). More often the error
 * comes at once: an atomic commit reads its checks first, and when another process committed
 * between that read and the commit's first write, SQLite refuses the now stale transaction
 * without waiting (bench/kv_contention.ts: every failed blob of the job was such a commit).
 *
 * Deno KV has no typed error for this, only a `TypeError` with SQLite's message, so the match is
 * that exact message (SQLITE_BUSY's) on a `TypeError`: nothing else is retried. A busy error
 * means the transaction wrote nothing (in WAL mode the lock is taken by the first write and
 * commit needs no further lock; a refused transaction is rolled back), so the same operation may
 * run again: an
 * `atomic().commit()` is re-run with its checks, which are evaluated afresh — a check that fails
 * still answers `{ ok: false }` (a lost compare-and-swap is never retried here). Reads are
 * retried too (they are idempotent; WAL readers do not take the write lock, but they queue on the
 * same KV thread). A list iterator is not wrapped: a page that failed cannot be re-fetched from
 * outside, and its reads do not meet the lock.
 *
 * Past {@linkcode BUSY_DEADLINE_MS} the error becomes {@linkcode StateBusy}
 * (`state_busy`): the service answers 503 with `Retry-After`, a job records a reason that says to
 * re-run it.
 *
 * ```ts
 * const kv = retryingBusy(await Deno.openKv(path));
 * await kv.set(["k"], 1); // waits out another process's writes, or throws StateBusy
 * ```
 *
 * @module
 */

import { StateBusy } from "./_errors.ts";

/**
 * How long an operation keeps retrying, from its first attempt. Busy errors come two ways: after
 * Deno KV's own wait (~5 s) while another process keeps the lock, or at once when a commit's
 * reads went stale under another process's commit (SQLite cannot wait that out, the transaction
 * has to start again). The deadline admits one more full wait after the first and many quick
 * re-runs; a caller waits at most about 15 s before `state_busy`.
 */
export const BUSY_DEADLINE_MS = 10_000;

/** Options of {@linkcode retryingBusy}; tests shorten them. */
export interface BusyOptions {
  /** Retry while less than this has passed since the first attempt (default BUSY_DEADLINE_MS). */
  deadlineMs?: number;
  /** The pause before retry `n` (1-based), in ms. */
  pauseMs?: (n: number) => number;
  /** Told of every busy error that is retried (a count for benches and logs). */
  onBusy?: (what: string) => void;
}

/** Whether `err` is SQLite's busy error as Deno KV raises it. */
export function isBusyError(err: unknown): boolean {
  return err instanceof TypeError && err.message === "database is locked";
}

/** Jittered, growing to at most 250 ms: two processes that failed together do not retry together. */
const jittered = (n: number) => Math.random() * Math.min(250, 5 * 2 ** n);

/**
 * `kv` with its reads, writes and atomic commits retried on SQLite's busy error, then failed
 * with {@linkcode StateBusy}. Everything else goes to `kv` unchanged (`close`, `watch`, `list`,
 * queues).
 */
export function retryingBusy(kv: Deno.Kv, options: BusyOptions = {}): Deno.Kv {
  const deadlineMs = options.deadlineMs ?? BUSY_DEADLINE_MS;
  const pauseMs = options.pauseMs ?? jittered;
  const retry = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    for (let n = 1;; n++) {
      try {
        return await run();
      } catch (err) {
        if (!isBusyError(err)) throw err;
        if (performance.now() - started >= deadlineMs) {
          // Said to clients as it is (503): which KV call stays in parentheses, for the log.
          throw new StateBusy(
            `the state store stayed busy with another process's writes (${what}); try again shortly`,
            { cause: err },
          );
        }
        options.onBusy?.(what);
        await new Promise((resolve) => setTimeout(resolve, pauseMs(n)));
      }
    }
  };
  const wrapped: Partial<Deno.Kv> = {
    get:
      ((key: Deno.KvKey, opts?: { consistency?: Deno.KvConsistencyLevel }) =>
        retry("get", () => kv.get(key, opts))) as Deno.Kv["get"],
    getMany:
      ((keys: Deno.KvKey[], opts?: { consistency?: Deno.KvConsistencyLevel }) =>
        retry("getMany", () => kv.getMany(keys, opts))) as Deno.Kv["getMany"],
    set: (key, value, opts) => retry("set", () => kv.set(key, value, opts)),
    delete: (key) => retry("delete", () => kv.delete(key)),
    enqueue: (value, opts) => retry("enqueue", () => kv.enqueue(value, opts)),
    atomic: () => {
      const op = kv.atomic();
      const commit = op.commit.bind(op);
      // Re-running a commit re-sends the same checks and mutations (the operation keeps them).
      op.commit = () => retry("commit", commit);
      return op;
    },
  };
  return new Proxy(kv, {
    get(target, prop) {
      if (Object.hasOwn(wrapped, prop)) return wrapped[prop as keyof Deno.Kv];
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
