/**
 * A `BlobStore` wrapper that counts reads, for tests that promise how much a scan reads (the
 * census and the credential listing read one byte per blob, never a whole one).
 *
 * @module
 */

import type { BlobStore, ListOptions, PutConditions } from "../../lib/store/mod.ts";

/** Counts whole-object gets, range reads and the bytes they return. */
export class ReadCountingStore implements BlobStore {
  gets = 0;
  ranges = 0;
  bytes = 0;
  constructor(readonly inner: BlobStore) {}
  get kind() {
    return this.inner.kind;
  }
  async get(key: string) {
    this.gets++;
    const blob = await this.inner.get(key);
    this.bytes += blob?.body.length ?? 0;
    return blob;
  }
  async getRange(key: string, start: number, end: number) {
    this.ranges++;
    const range = await this.inner.getRange(key, start, end);
    this.bytes += range?.body.length ?? 0;
    return range;
  }
  head(key: string) {
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array, conditions?: PutConditions) {
    return this.inner.put(key, body, conditions);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions) {
    return this.inner.list(prefix, options);
  }
  close() {
    return this.inner.close();
  }
}
