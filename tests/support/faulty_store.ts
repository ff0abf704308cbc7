/**
 * A {@linkcode BlobStore} wrapper that injects failures and interleavings, for refusal-path tests
 * (a store that goes down, credentials that expire after K operations, a writer that sneaks in
 * between a read and a compare-and-swap).
 *
 * @module
 */

import type { BlobInfo, BlobStore, ListOptions, PutConditions } from "../../lib/store/mod.ts";

export type StoreOp = "get" | "getRange" | "head" | "put" | "delete" | "list";

export interface Faults {
  /** Return an error to throw it instead of calling the real store; `n` counts calls so far. */
  fail?: (op: StoreOp, key: string, n: number) => Error | undefined;
  /** Runs before a put reaches the real store (e.g. to make a conditional put lose a race). */
  beforePut?: (key: string, conditions: PutConditions | undefined) => Promise<void>;
}

export class FaultyStore implements BlobStore {
  calls = 0;
  constructor(readonly inner: BlobStore, public faults: Faults = {}) {}

  get kind() {
    return this.inner.kind;
  }

  #check(op: StoreOp, key: string) {
    const err = this.faults.fail?.(op, key, this.calls++);
    if (err) throw err;
  }

  get(key: string) {
    this.#check("get", key);
    return this.inner.get(key);
  }
  getRange(key: string, start: number, end: number) {
    this.#check("getRange", key);
    return this.inner.getRange(key, start, end);
  }
  head(key: string) {
    this.#check("head", key);
    return this.inner.head(key);
  }
  async put(key: string, body: Uint8Array, conditions?: PutConditions) {
    this.#check("put", key);
    await this.faults.beforePut?.(key, conditions);
    return this.inner.put(key, body, conditions);
  }
  delete(key: string) {
    this.#check("delete", key);
    return this.inner.delete(key);
  }
  async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    this.#check("list", prefix);
    yield* this.inner.list(prefix, options);
  }
  close() {
    return this.inner.close();
  }
}
