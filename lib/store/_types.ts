/**
 * The one interface every blob store implements (ARCHITECTURE §5).
 *
 * Keys are S3-style object keys (`bots/<actor>/credentials/<service>.enc`); etags are opaque,
 * bare strings (no quotes) and change whenever the bytes change. Writes that replace an object
 * the caller read use `ifMatch` (compare-and-swap); writes that must not replace anything use
 * `ifNoneMatch: "*"`.
 *
 * @module
 */

/** An object's bytes with the etag they were read at. */
export interface StoredBlob {
  body: Uint8Array;
  etag: string;
  /**
   * Set by lib/integrity on bytes that have no pointer yet (a blob written before pointers, in
   * the default `adopt` mode). A reader that authenticated them (their envelope opened) calls it,
   * and only then are they adopted — a pointer and a `blob_written {adopted}` entry, anchored
   * with the rest — so bytes that do not authenticate (another blob copied there by the store's
   * operator) are never vouched for. Not calling it leaves the blob as it was.
   */
  adopt?: () => Promise<void>;
}

/**
 * What `head` and listings know about an object without reading it. No etag: on fs it is a hash
 * of every byte, and a census or dry run over many blobs must read one byte per blob, not all of
 * them. Compare-and-swap takes its etag from `get`, which reads the bytes anyway.
 */
export interface BlobInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** The conditions of a write. At most one of the two may be given. */
export interface PutConditions {
  /** Write only if the current object has this etag (compare-and-swap). */
  ifMatch?: string;
  /** `"*"`: write only if no object exists under the key. */
  ifNoneMatch?: "*";
}

export interface ListOptions {
  /**
   * Keys per backend page (S3 `MaxKeys`; on fs, keys stat'ed together); 1 to 1000, default 1000.
   * Outside that range `list` throws `RangeError`.
   */
  pageSize?: number;
  /** Start listing after this key (exclusive), to resume a scan. */
  startAfter?: string;
}

/** A byte range read: the requested bytes and the object's full size (no etag, see BlobInfo). */
export interface RangeBlob {
  body: Uint8Array;
  size: number;
}

export interface BlobStore {
  /** "fs" or "s3": shown by `/healthz`. */
  readonly kind: "fs" | "s3";
  /** The whole object, or `null` when it does not exist. */
  get(key: string): Promise<StoredBlob | null>;
  /**
   * Bytes `start..end` inclusive (e.g. `0, 0` for the epoch byte), or `null` when missing. A range
   * running past the end is cut at the end; one starting at or past the end gives no bytes (with
   * the object's size). Reads only the requested bytes. `RangeError` unless `0 <= start <= end` are integers.
   */
  getRange(key: string, start: number, end: number): Promise<RangeBlob | null>;
  /** Metadata, or `null` when missing. */
  head(key: string): Promise<BlobInfo | null>;
  /**
   * Writes atomically; throws {@linkcode PreconditionFailed} when a condition does not hold (an
   * `ifMatch` on a missing key never holds), `TypeError` when both conditions are given.
   */
  put(key: string, body: Uint8Array, conditions?: PutConditions): Promise<{ etag: string }>;
  /**
   * Removes the object; `false` when there was nothing to remove. With `ifMatch`, only when the
   * current object has that etag (else {@linkcode PreconditionFailed}): the TTL sweep must not
   * delete a blob written since it looked.
   */
  delete(key: string, conditions?: { ifMatch?: string }): Promise<boolean>;
  /**
   * Every key under `prefix` (a plain string prefix: `a/b` matches `a/bc`, `a/b/` does not) in
   * ascending UTF-8 byte order, fetched page by page. Objects whose names are not valid keys
   * (written by other tools) are not listed.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo>;
  /** Releases sockets and handles. */
  close(): Promise<void>;
}
