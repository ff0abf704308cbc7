/**
 * The write ledger: when a blob was last written under each K3 epoch, and which actors wrote for
 * which operator. The destroy guard reads it (ARCHITECTURE §8.5: an epoch may be destroyed only
 * when a census taken *after the last write* shows it empty).
 *
 * Writers call {@linkcode WriteLedger.recordWrite} after their store write succeeded, so the
 * recorded time is never earlier than the write: a census that started after that time listed
 * the blob.
 *
 * @module
 */

import { omniToHex } from "../identity/mod.ts";
import { actorIndexKey } from "./_actors.ts";
import { StateContention } from "./_errors.ts";

/** One successful blob write. */
export interface WriteRecord {
  /** The epoch the blob was encrypted under. */
  epoch: number;
  /** The operator the actor belongs to; omitted when unknown (a global re-encryption run). */
  operatorOmni?: string;
  actorOmni: string;
}

/** What writers and the destroy guard need from the ledger. */
export interface WriteLedger {
  /** Records a write that already reached the store. Resolves once it is durable. */
  recordWrite(write: WriteRecord): Promise<void>;
  /** When the last recorded write under `epoch` happened, or `undefined` if none was. */
  lastWrite(epoch: number): Promise<Date | undefined>;
}

/** KV key of the last-write time (a `Deno.KvU64` of epoch milliseconds) of one epoch. */
export function lastWriteKey(epoch: number): Deno.KvKey {
  return ["ledger", "last_write", epoch];
}

/** Operator/actor pairs remembered as already indexed, so steady writers skip that mutation. */
const KNOWN_PAIRS_LIMIT = 50_000;
/** Deno KV refuses atomic operations with more mutations than this. */
const MAX_MUTATIONS = 1000;

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * {@linkcode WriteLedger} on Deno KV. Concurrent `recordWrite` calls are coalesced: while one
 * commit is in flight, every call that arrives joins the next one, and each call resolves only
 * after a commit that includes it. So thousands of writes per second cost a few commits, and
 * the per-epoch time is an atomic `max`, safe with several processes sharing the KV file.
 *
 * ```ts
 * const ledger = new KvWriteLedger(state.kv);
 * await ledger.recordWrite({ epoch: 2, operatorOmni, actorOmni });
 * await ledger.lastWrite(2); // Date of that write (or later)
 * ```
 */
export class KvWriteLedger implements WriteLedger {
  #epochs = new Set<number>();
  #pairs = new Map<string, [string, string]>();
  #known = new Set<string>();
  #next: Deferred | null = null;
  #draining = false;
  readonly #now: () => number;

  constructor(readonly kv: Deno.Kv, options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  recordWrite(write: WriteRecord): Promise<void> {
    if (!Number.isSafeInteger(write.epoch) || write.epoch < 1) {
      return Promise.reject(new TypeError(`bad epoch ${write.epoch}`));
    }
    let actor: string;
    let operator: string | undefined;
    try {
      actor = omniToHex(write.actorOmni);
      operator = write.operatorOmni === undefined ? undefined : omniToHex(write.operatorOmni);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#epochs.add(write.epoch);
    if (operator !== undefined) {
      const id = `${operator}/${actor}`;
      if (!this.#known.has(id)) this.#pairs.set(id, [operator, actor]);
    }
    if (this.#next === null) this.#next = deferred();
    const promise = this.#next.promise;
    if (!this.#draining) void this.#drain();
    return promise;
  }

  async lastWrite(epoch: number): Promise<Date | undefined> {
    const entry = await this.kv.get<Deno.KvU64>(lastWriteKey(epoch));
    return entry.value === null ? undefined : new Date(Number(entry.value.value));
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#next !== null) {
        const waiting = this.#next;
        const epochs = [...this.#epochs];
        const pairs = [...this.#pairs];
        this.#next = null;
        this.#epochs = new Set();
        this.#pairs = new Map();
        try {
          await this.#commit(epochs, pairs);
          if (this.#known.size > KNOWN_PAIRS_LIMIT) this.#known.clear();
          for (const [id] of pairs) this.#known.add(id);
          waiting.resolve();
        } catch (err) {
          waiting.reject(err);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #commit(epochs: number[], pairs: [string, [string, string]][]): Promise<void> {
    // Taken now, after every write in this batch completed: never earlier than any of them.
    const at = BigInt(this.#now());
    let op = this.kv.atomic();
    let count = 0;
    for (const epoch of epochs) {
      op.max(lastWriteKey(epoch), at);
      count++;
    }
    for (const [, [operator, actor]] of pairs) {
      if (count === MAX_MUTATIONS) {
        await commitOrThrow(op);
        op = this.kv.atomic();
        count = 0;
      }
      op.set(actorIndexKey(operator, actor), true);
      count++;
    }
    if (count > 0) await commitOrThrow(op);
  }
}

async function commitOrThrow(op: Deno.AtomicOperation): Promise<void> {
  const result = await op.commit();
  // Without checks a commit cannot lose a race; `ok: false` would mean a broken backend.
  if (!result.ok) throw new StateContention("write ledger: KV commit refused");
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A caller that does not await (the re-encryption engine collects promises) must not turn a
  // failure into an unhandled rejection before it looks.
  promise.catch(() => {});
  return { promise, resolve, reject };
}
