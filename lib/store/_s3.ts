/**
 * The S3 store: {@linkcode BlobStore} over `@aws-sdk/client-s3`, for AWS S3, Ceph RGW, or any
 * compatible service (ARCHITECTURE §5).
 *
 * What the client is set up to do, and why:
 * - Conditional PUT (`If-Match` / `If-None-Match: *`) with the etag sent **bare**: RGW answers
 *   412 to the quoted form. Returned etags are unquoted. On RGW, CAS works only on unversioned
 *   buckets.
 * - `requestChecksumCalculation: "WHEN_REQUIRED"`: the SDK's default streams aws-chunked bodies
 *   with trailing checksums, which RGW refuses with 411.
 * - The SDK's own "standard" retry strategy (exponential backoff with full jitter; retries 5xx,
 *   throttling such as `SlowDown`, timeouts and connection errors; a client-wide retry budget) for
 *   `maxAttempts` attempts, and a per-attempt request timeout that throws instead of only warning.
 * - Errors become the typed errors of `_errors.ts`: 412 → {@linkcode PreconditionFailed},
 *   `ExpiredToken` → {@linkcode StoreCredentialsExpired} (never retried), network/5xx/throttling
 *   after the retries → {@linkcode StoreUnavailable}, anything else → {@linkcode StoreError}
 *   with code `store_error`.
 *
 * @module
 */

import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type {
  BlobInfo,
  BlobStore,
  ListOptions,
  PutConditions,
  RangeBlob,
  StoredBlob,
} from "./_types.ts";
import {
  PreconditionFailed,
  StoreCredentialsExpired,
  StoreError,
  StoreUnavailable,
} from "./_errors.ts";
import {
  isValidKey,
  pageSizeOf,
  validateConditions,
  validateKey,
  validatePrefix,
  validateRange,
} from "./_key.ts";

/** How to reach the bucket. */
export interface S3BlobStoreOptions {
  /** e.g. `http://127.0.0.1:7480` for RGW; omit for AWS S3. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Omit to use the SDK's default chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** `http://host/bucket/key` URLs instead of `http://bucket.host/key`; default `true`. */
  forcePathStyle?: boolean;
  /** Attempts per request including the first; default 4. */
  maxAttempts?: number;
  /** Limit for one attempt (connect, send, receive), in ms; default 30000. */
  requestTimeoutMs?: number;
}

const DEFAULT_MAX_ATTEMPTS = 4;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** S3 error names that mean the session's credentials have run out. */
const EXPIRED_TOKEN = new Set(["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"]);
/** S3 error names that mean "try again later" (the SDK retries them first). */
const UNAVAILABLE = new Set([
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "TimeoutError",
  "Throttling",
  "ThrottlingException",
]);

/** The shape of errors the SDK throws; everything optional because anything may be thrown. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

/**
 * A blob store on an S3 bucket.
 *
 * @example
 * ```ts
 * const store = new S3BlobStore({
 *   endpoint: "http://127.0.0.1:7480",
 *   region: "us-east-1",
 *   bucket: "vault",
 *   credentials: { accessKeyId, secretAccessKey },
 * });
 * await store.ensureBucket();
 * const { etag } = await store.put("bots/a1/credentials/github.enc", bytes, { ifNoneMatch: "*" });
 * await store.close();
 * ```
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly bucket: string;
  #region: string;
  #client: S3Client;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.#region = options.region;
    const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#client = new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      credentials: options.credentials,
      forcePathStyle: options.forcePathStyle ?? true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      retryMode: "standard",
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      requestHandler: {
        connectionTimeout: requestTimeout,
        requestTimeout,
        // Without this the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
      },
    });
  }

  /**
   * Creates the bucket unless it exists (unversioned: RGW's conditional writes need that).
   *
   * @example
   * ```ts
   * await new S3BlobStore({ region: "us-east-1", bucket: "vault" }).ensureBucket();
   * ```
   */
  async ensureBucket(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (isBodilessRefusal(err)) {
        await this.#explain(
          "ensureBucket",
          "",
          () => this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 })),
        );
      }
      if (statusOf(err) !== 404) throw this.#translate(err, "ensureBucket", "");
    }
    try {
      await this.#client.send(
        new CreateBucketCommand({
          Bucket: this.bucket,
          // AWS refuses an explicit us-east-1 and requires the name of any other region.
          CreateBucketConfiguration: this.#region === "us-east-1"
            ? undefined
            : { LocationConstraint: this.#region as BucketLocationConstraint },
        }),
      );
    } catch (err) {
      // Another process created it between our HEAD and CREATE.
      if ((err as SdkError).name === "BucketAlreadyOwnedByYou") return;
      throw this.#translate(err, "ensureBucket", "");
    }
  }

  async get(key: string): Promise<StoredBlob | null> {
    validateKey(key);
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = await readBody(out.Body);
      return { body, etag: bareEtag(out.ETag) };
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw this.#translate(err, "get", key);
    }
  }

  async getRange(key: string, start: number, end: number): Promise<RangeBlob | null> {
    validateKey(key);
    validateRange(start, end);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }),
      );
      const body = await readBody(out.Body);
      const total = /\/(\d+)$/.exec(out.ContentRange ?? "");
      if (total) return { body, size: Number(total[1]) };
      // 200 without Content-Range: the server sent the whole object.
      return { body: body.slice(start, end + 1), size: body.length };
    } catch (err) {
      if (isMissingObject(err)) return null;
      if ((err as SdkError).name === "InvalidRange" || statusOf(err) === 416) {
        // The range starts past the end (or the object is empty): like the fs store, answer with
        // no bytes and the object's size.
        const info = await this.head(key);
        if (info === null) return null;
        return { body: new Uint8Array(0), size: info.size };
      }
      throw this.#translate(err, "getRange", key);
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    validateKey(key);
    try {
      const out = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (err) {
      if (isMissingObject(err)) return null;
      if (isBodilessRefusal(err)) {
        // A HEAD answer has no body, so it cannot say why (ExpiredToken? AccessDenied?): ask the
        // same with a one-byte GET, whose error answer names the code.
        await this.#explain(
          "head",
          key,
          () =>
            this.#client.send(
              new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: "bytes=0-0" }),
            ),
        );
      }
      throw this.#translate(err, "head", key);
    }
  }

  async put(key: string, body: Uint8Array, conditions?: PutConditions): Promise<{ etag: string }> {
    validateKey(key);
    validateConditions(conditions);
    try {
      const out = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          // Bare on purpose: RGW compares the header text with the unquoted etag.
          IfMatch: conditions?.ifMatch,
          IfNoneMatch: conditions?.ifNoneMatch,
        }),
      );
      if (!out.ETag) {
        throw new StoreError("store_error", `s3 put ${this.bucket}/${key}: no ETag in the answer`);
      }
      return { etag: bareEtag(out.ETag) };
    } catch (err) {
      if ((err as SdkError).name === "PreconditionFailed" || statusOf(err) === 412) {
        throw new PreconditionFailed(key);
      }
      throw this.#translate(err, "put", key);
    }
  }

  /**
   * S3 answers 204 whether or not the key existed, so this asks first: two concurrent deletes of
   * one object may both return `true`.
   */
  async delete(key: string, conditions?: { ifMatch?: string }): Promise<boolean> {
    if (conditions?.ifMatch !== undefined) {
      // RGW 16 ignores If-Match on DELETE (the conformance case showed it) but honours it on
      // HEAD: a changed object is refused here. Between this HEAD and the DELETE (one round
      // trip) a write can still slip in on RGW; where DELETE honours If-Match (AWS S3) it cannot.
      validateKey(key);
      try {
        await this.#client.send(
          new HeadObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: conditions.ifMatch }),
        );
      } catch (err) {
        if (isMissingObject(err)) return false;
        if ((err as SdkError).name === "PreconditionFailed" || statusOf(err) === 412) {
          throw new PreconditionFailed(key);
        }
        throw this.#translate(err, "delete", key);
      }
    } else if ((await this.head(key)) === null) return false;
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: conditions?.ifMatch }),
      );
      return true;
    } catch (err) {
      if (isMissingObject(err)) return false;
      const refused = (err as SdkError).name === "PreconditionFailed" || statusOf(err) === 412;
      if (conditions?.ifMatch !== undefined && refused) {
        throw new PreconditionFailed(key);
      }
      throw this.#translate(err, "delete", key);
    }
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo> {
    validatePrefix(prefix);
    const pageSize = pageSizeOf(options);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix === "" ? undefined : prefix,
            MaxKeys: pageSize,
            // The continuation token already encodes where to resume.
            StartAfter: token === undefined ? options?.startAfter : undefined,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw this.#translate(err, "list", prefix);
      }
      for (const object of page.Contents ?? []) {
        // Keys this store could not address (written by other tools) are not listed, as on fs.
        if (object.Key === undefined || !isValidKey(object.Key)) continue;
        yield {
          key: object.Key,
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }

  /**
   * Repeats a refused bodiless request as `probe`, a request whose error answer has a body, and
   * throws that error translated. Returns when the probe succeeds or also says nothing.
   */
  async #explain(
    operation: string,
    key: string,
    probe: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await probe();
    } catch (err) {
      if (!isBodilessRefusal(err) && statusOf(err) !== 416 && statusOf(err) !== 404) {
        throw this.#translate(err, operation, key);
      }
    }
  }

  /** Maps an SDK error (already retried by the SDK where that made sense) to a typed error. */
  #translate(err: unknown, operation: string, key: string): Error {
    if (err instanceof StoreError) return err;
    const e = (err ?? {}) as SdkError;
    const name = e.name ?? "Error";
    const status = statusOf(err);
    const where = `s3 ${operation} ${this.bucket}/${key}`;
    const attempts = e.$metadata?.attempts ?? 1;
    const what = `${name}${status === undefined ? "" : ` (HTTP ${status})`}`;
    if (EXPIRED_TOKEN.has(name)) {
      return new StoreCredentialsExpired(`${where}: the credentials expired (${what})`, {
        cause: err,
      });
    }
    // No HTTP status: the request never got an answer (refused, reset, timed out), unless the
    // SDK failed before sending (no credentials found, bad configuration).
    const noAnswer = status === undefined && !/Credentials|Config|Endpoint/i.test(name);
    if (
      noAnswer || (status !== undefined && status >= 500) || status === 429 || UNAVAILABLE.has(name)
    ) {
      return new StoreUnavailable(`${where} failed after ${attempts} attempt(s): ${what}`, {
        cause: err,
      });
    }
    return new StoreError("store_error", `${where} failed: ${what}: ${e.message ?? ""}`, {
      cause: err,
    });
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode;
}

/** `NoSuchKey` from GET, a bodiless 404 (`NotFound`) from HEAD. A missing bucket is not this. */
function isMissingObject(err: unknown): boolean {
  const name = (err as SdkError | undefined)?.name;
  return name === "NoSuchKey" || (statusOf(err) === 404 && name !== "NoSuchBucket");
}

/**
 * A 400 or 403 to a HEAD request: the SDK names such errors after the status ("Unknown",
 * "Forbidden") because the answer has no body to carry the S3 error code.
 */
function isBodilessRefusal(err: unknown): boolean {
  const status = statusOf(err);
  const name = (err as SdkError | undefined)?.name ?? "";
  return (status === 400 || status === 403) &&
    ["Unknown", "BadRequest", "Forbidden"].includes(name);
}

/** `"abc"` or `W/"abc"` → `abc`. */
function bareEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

async function readBody(body: { transformToByteArray(): Promise<Uint8Array> } | undefined) {
  return body === undefined ? new Uint8Array(0) : await body.transformToByteArray();
}
