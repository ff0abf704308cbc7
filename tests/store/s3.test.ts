/**
 * {@linkcode S3BlobStore}: the shared conformance suite against a real Ceph RGW (started once for
 * this file, on a fresh unversioned bucket per case), then failure handling against a small fake
 * S3 on 127.0.0.1 that answers whatever each test scripts: retries, timeouts, error mapping.
 *
 * @module
 */

import assert from "node:assert/strict";
import { GetBucketVersioningCommand, S3Client } from "@aws-sdk/client-s3";
import {
  PreconditionFailed,
  S3BlobStore,
  StoreCredentialsExpired,
  StoreError,
} from "../../lib/store/mod.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { type CephCluster, freshBucketStore, startCeph } from "../support/ceph.ts";
import { conformance } from "./conformance.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// --- against a fake S3 ----------------------------------------------------------------------

interface FakeRequest {
  method: string;
  /** `/<bucket>/<key>`, without the query. */
  path: string;
  headers: Headers;
}

/** An S3 stand-in on 127.0.0.1 whose answer to request number `n` (from 0) `reply` decides. */
async function withFakeS3(
  reply: (request: FakeRequest, n: number) => Response | Promise<Response>,
  fn: (store: S3BlobStore, requests: FakeRequest[]) => Promise<void>,
  options: { maxAttempts?: number; requestTimeoutMs?: number } = {},
): Promise<void> {
  const requests: FakeRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const request = { method: req.method, path: url.pathname, headers: req.headers };
      requests.push(request);
      await req.arrayBuffer();
      return await reply(request, requests.length - 1);
    },
  );
  const store = new S3BlobStore({
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    region: "us-east-1",
    bucket: "fake",
    credentials: { accessKeyId: "FAKEACCESSKEY", secretAccessKey: "fake-secret" },
    maxAttempts: options.maxAttempts ?? 4,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
  });
  try {
    await fn(store, requests);
  } finally {
    await store.close();
    await server.shutdown();
  }
}

function s3Error(status: number, code: string): Response {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>` +
    `<Error><Code>${code}</Code><Message>${code} (fake)</Message><RequestId>r1</RequestId></Error>`;
  return new Response(xml, { status, headers: { "content-type": "application/xml" } });
}

function object(body: string, etag = "abc123"): Response {
  return new Response(body, {
    status: 200,
    headers: {
      etag: `"${etag}"`,
      "content-type": "application/octet-stream",
      "last-modified": new Date().toUTCString(),
    },
  });
}

/** Fake-server tests hold pooled sockets until close(); the sanitizers would see them. */
const fakeTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({
    name: `S3BlobStore (fake S3): ${name}`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });

fakeTest("503 twice, then success: retried, succeeds", async () => {
  await withFakeS3(
    (_, n) => n < 2 ? s3Error(503, "ServiceUnavailable") : object("hello"),
    async (store, requests) => {
      assert.deepEqual(await store.get("k"), { body: enc.encode("hello"), etag: "abc123" });
      assert.equal(requests.length, 3);
    },
  );
});

fakeTest("SlowDown is retried", async () => {
  await withFakeS3(
    (_, n) =>
      n === 0 ? s3Error(503, "SlowDown") : new Response(null, { headers: { etag: '"e2"' } }),
    async (store, requests) => {
      assert.deepEqual(await store.put("k", enc.encode("x")), { etag: "e2" });
      assert.equal(requests.length, 2);
      assert.ok(requests.every((r) => r.method === "PUT"));
    },
  );
});

fakeTest("persistent 503 ends in StoreUnavailable after maxAttempts", async () => {
  await withFakeS3(
    () => s3Error(503, "ServiceUnavailable"),
    async (store, requests) => {
      await assert.rejects(store.get("k"), StoreUnavailable);
      assert.equal(requests.length, 4, "maxAttempts 4: the first try and 3 retries");
      await assert.rejects(store.put("k", enc.encode("x")), (e: unknown) => {
        assert.ok(e instanceof StoreUnavailable);
        assert.equal(e.code, "store_unavailable");
        assert.match(e.message, /ServiceUnavailable \(HTTP 503\)/);
        assert.match(e.message, /4 attempt/);
        return true;
      });
    },
  );
});

fakeTest("500 on listing ends in StoreUnavailable", async () => {
  await withFakeS3(
    () => s3Error(500, "InternalError"),
    async (store, requests) => {
      await assert.rejects(async () => {
        for await (const _ of store.list("")) {
          // nothing: the first page fails
        }
      }, StoreUnavailable);
      assert.equal(requests.length, 2);
    },
    { maxAttempts: 2 },
  );
});

fakeTest("ExpiredToken: StoreCredentialsExpired at once, on every operation", async () => {
  await withFakeS3(
    // HEAD answers carry no body, as in real S3: the store must still find out why.
    (request) =>
      request.method === "HEAD" ? new Response(null, { status: 400 }) : s3Error(
        400,
        "ExpiredToken",
      ),
    async (store, requests) => {
      await assert.rejects(store.get("k"), StoreCredentialsExpired);
      assert.equal(requests.length, 1, "not retried");
      await assert.rejects(store.put("k", enc.encode("x")), StoreCredentialsExpired);
      await assert.rejects(
        store.put("k", enc.encode("x"), { ifMatch: "e" }),
        StoreCredentialsExpired,
      );
      await assert.rejects(store.getRange("k", 0, 0), StoreCredentialsExpired);
      await assert.rejects(store.head("k"), StoreCredentialsExpired);
      await assert.rejects(store.delete("k"), StoreCredentialsExpired);
      await assert.rejects(async () => {
        for await (const _ of store.list("")) {
          // nothing: the first page fails
        }
      }, StoreCredentialsExpired);
      await assert.rejects(store.ensureBucket(), StoreCredentialsExpired);
      // One request each; head, delete (which heads first) and ensureBucket add one probe each.
      assert.equal(requests.length, 11, "nothing retried");
    },
  );
});

fakeTest("a request that times out is retried, then StoreUnavailable", async () => {
  await withFakeS3(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 700));
      return object("late");
    },
    async (store, requests) => {
      const started = performance.now();
      await assert.rejects(store.get("k"), (e: unknown) => {
        assert.ok(e instanceof StoreUnavailable);
        assert.match(e.message, /TimeoutError/);
        return true;
      });
      assert.equal(requests.length, 2);
      assert.ok(performance.now() - started < 2_000, "gave up after two short attempts");
    },
    { maxAttempts: 2, requestTimeoutMs: 200 },
  );
});

fakeTest(
  "conditions are sent bare; 412 is PreconditionFailed; etags come back unquoted",
  async () => {
    await withFakeS3(
      (request) =>
        request.headers.get("if-match") === "stale"
          ? s3Error(412, "PreconditionFailed")
          : new Response(null, { headers: { etag: '"fresh"' } }),
      async (store, requests) => {
        assert.deepEqual(await store.put("k", enc.encode("x"), { ifMatch: "e1" }), {
          etag: "fresh",
        });
        assert.equal(requests[0].headers.get("if-match"), "e1");
        await store.put("k", enc.encode("x"), { ifNoneMatch: "*" });
        assert.equal(requests[1].headers.get("if-none-match"), "*");
        const err = await store.put("k", enc.encode("x"), { ifMatch: "stale" }).catch((e) => e);
        assert.ok(err instanceof PreconditionFailed);
        assert.equal(requests.length, 3, "a lost race is not retried");
        // No aws-chunked bodies (RGW answers 411 to them).
        assert.ok(
          requests.every((r) => !(r.headers.get("content-encoding") ?? "").includes("aws-chunked")),
        );
      },
    );
  },
);

fakeTest("missing key is null; a missing bucket or denied access is a StoreError", async () => {
  await withFakeS3(
    (request) => {
      if (request.path.endsWith("/missing")) return s3Error(404, "NoSuchKey");
      if (request.path.endsWith("/denied")) return s3Error(403, "AccessDenied");
      return s3Error(404, "NoSuchBucket");
    },
    async (store, requests) => {
      assert.equal(await store.get("missing"), null);
      assert.equal(await store.getRange("missing", 0, 0), null);
      const noBucket = await store.get("other").catch((e) => e);
      assert.ok(noBucket instanceof StoreError && !(noBucket instanceof StoreUnavailable));
      assert.equal(noBucket.code, "store_error");
      assert.match(noBucket.message, /NoSuchBucket/);
      const denied = await store.get("denied").catch((e) => e);
      assert.equal(denied.code, "store_error");
      assert.match(denied.message, /AccessDenied \(HTTP 403\)/);
      assert.equal(requests.length, 4, "client errors are not retried");
    },
  );
});

fakeTest("nothing listening: StoreUnavailable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const store = new S3BlobStore({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    bucket: "nowhere",
    credentials: { accessKeyId: "FAKEACCESSKEY", secretAccessKey: "fake-secret" },
    maxAttempts: 2,
  });
  try {
    await assert.rejects(store.get("k"), StoreUnavailable);
  } finally {
    await store.close();
  }
});

// --- against Ceph RGW -----------------------------------------------------------------------

let cluster: Promise<CephCluster> | undefined;
/** Started by the first test that needs it; stopped at the end of the conformance run. */
function ceph(): Promise<CephCluster> {
  if (cluster === undefined) {
    cluster = startCeph();
    cluster.then(
      (c) => console.log(`Ceph RGW started in ${c.startMs} ms at ${c.endpoint}`),
      () => {},
    );
  }
  return cluster;
}

Deno.test({
  name: "S3BlobStore (Ceph RGW): ensureBucket creates an unversioned bucket, and is idempotent",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await ceph();
    const store = await freshBucketStore(c);
    const client = new S3Client({
      endpoint: c.endpoint,
      region: c.region,
      forcePathStyle: true,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    });
    try {
      await store.ensureBucket(); // exists already: fine
      const versioning = await client.send(
        new GetBucketVersioningCommand({ Bucket: store.bucket }),
      );
      assert.equal(versioning.Status, undefined, "conditional writes need an unversioned bucket");
      await store.put("k", enc.encode("v"));
      assert.equal(dec.decode((await store.get("k"))!.body), "v");
    } finally {
      client.destroy();
      await store.close();
    }
  },
});

Deno.test({
  name: "S3BlobStore (Ceph RGW): without credentials, the SDK's default chain (AWS_* env) applies",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const c = await ceph();
    const saved = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].map(
      (name) => [name, Deno.env.get(name)] as const,
    );
    Deno.env.set("AWS_ACCESS_KEY_ID", c.accessKeyId);
    Deno.env.set("AWS_SECRET_ACCESS_KEY", c.secretAccessKey);
    Deno.env.delete("AWS_SESSION_TOKEN");
    const store = new S3BlobStore({
      endpoint: c.endpoint,
      region: c.region,
      bucket: `test-${crypto.randomUUID()}`,
    });
    try {
      await store.ensureBucket();
      const { etag } = await store.put("k", enc.encode("from env"));
      assert.deepEqual(await store.get("k"), { body: enc.encode("from env"), etag });
    } finally {
      await store.close();
      for (const [name, value] of saved) {
        if (value === undefined) Deno.env.delete(name);
        else Deno.env.set(name, value);
      }
    }
  },
});

conformance("S3BlobStore (Ceph RGW)", async () => freshBucketStore(await ceph()), {
  sanitize: false,
  teardown: async () => {
    if (cluster !== undefined) await (await cluster.catch(() => null))?.stop();
  },
});
