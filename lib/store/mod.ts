/**
 * Blob stores: where AgentKeys keeps encrypted objects (ARCHITECTURE §5). The only module other
 * components import from `lib/store`.
 *
 * - {@linkcode FsBlobStore}: the embedded default, a directory on local disk.
 * - {@linkcode S3BlobStore}: AWS S3, Ceph RGW, or any S3-compatible service.
 *
 * Both implement {@linkcode BlobStore}, accept the same keys ({@linkcode validateKey}), and throw
 * the same typed errors.
 *
 * @example
 * ```ts
 * import { FsBlobStore, PreconditionFailed } from "./lib/store/mod.ts";
 *
 * const store = new FsBlobStore("/var/lib/agentkeys/blobs");
 * const current = await store.get("bots/a1/credentials/github.enc");
 * try {
 *   await store.put("bots/a1/credentials/github.enc", next, { ifMatch: current!.etag });
 * } catch (err) {
 *   if (!(err instanceof PreconditionFailed)) throw err;
 *   // someone else wrote first: re-read and retry
 * }
 * ```
 *
 * @module
 */

export type {
  BlobInfo,
  BlobStore,
  ListOptions,
  PutConditions,
  RangeBlob,
  StoredBlob,
} from "./_types.ts";
export {
  PreconditionFailed,
  StoreCredentialsExpired,
  StoreError,
  type StoreErrorCode,
} from "./_errors.ts";
export { FsBlobStore } from "./_fs.ts";
export { S3BlobStore } from "./_s3.ts";
