/**
 * `/v1/cred/*` and `/v1/memory/*` (API.md, "Worker"): parse, take the cap, call the worker.
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DataClass } from "../lib/crypto/mod.ts";
import type { FetchResult, VaultWorker } from "../lib/worker/mod.ts";
import { ApiError } from "./errors.ts";
import { base64Field, bearer, jsonBody } from "./request.ts";

function fetched(r: FetchResult) {
  return { plaintext_b64: r.plaintext.toBase64(), epoch: r.epoch, rewrapped: r.rewrapped };
}

/** Base64 grows 4/3; leave room for the other fields. Exact limits are the worker's job. */
function limitFor(bytes: number) {
  return bodyLimit({
    maxSize: Math.ceil(bytes / 3) * 4 + 4096,
    onError: () => {
      throw new ApiError(413, "too_large", `the body exceeds the limit for this data class`);
    },
  });
}

/** Mounts the worker routes. */
export function workerRoutes(worker: VaultWorker, limits: Record<DataClass, number>): Hono {
  const app = new Hono();
  const cred = limitFor(limits.credentials);
  const mem = limitFor(limits.memory);
  const cap = (c: Parameters<typeof bearer>[0]) => bearer(c, "cap_invalid");

  app.post("/v1/cred/store", cred, async (c) => {
    const token = cap(c);
    const body = await jsonBody(c);
    return c.json(await worker.credStore(token, base64Field(body, "plaintext_b64")));
  });
  app.post("/v1/cred/fetch", cred, async (c) => {
    const token = cap(c);
    return c.json(fetched(await worker.credFetch(token)));
  });
  app.post("/v1/cred/teardown", cred, async (c) => {
    const token = cap(c);
    return c.json(await worker.credTeardown(token));
  });
  app.post("/v1/memory/put", mem, async (c) => {
    const token = cap(c);
    const body = await jsonBody(c);
    const plaintext = base64Field(body, "plaintext_b64");
    return c.json(await worker.memoryPut(token, body.namespace, body.name, plaintext));
  });
  app.post("/v1/memory/get", mem, async (c) => {
    const token = cap(c);
    const body = await jsonBody(c);
    return c.json(fetched(await worker.memoryGet(token, body.namespace, body.name)));
  });
  app.post("/v1/memory/teardown", mem, async (c) => {
    const token = cap(c);
    const body = await jsonBody(c);
    return c.json(await worker.memoryTeardown(token, body.namespace, body.name));
  });
  return app;
}
