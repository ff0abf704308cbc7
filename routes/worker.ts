/**
 * `/v1/cred/*`, `/v1/memory/*` and `/v1/inbound/*` (API.md, "Worker"): check the cap, then read the body, then
 * call the worker.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DataClass } from "../lib/crypto/mod.ts";
import type { CapOp } from "../lib/cap/mod.ts";
import type { AuthorizedCap, FetchResult, VaultWorker } from "../lib/worker/mod.ts";
import { ApiError } from "./errors.ts";
import { base64Field, bearer, jsonBody, optionalJsonBody } from "./request.ts";

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

type CapEnv = { Variables: { cap: AuthorizedCap } };

/** Mounts the worker routes. */
export function workerRoutes(worker: VaultWorker, limits: Record<DataClass, number>): Hono<CapEnv> {
  const app = new Hono<CapEnv>();
  const cred = limitFor(limits.credentials);
  const mem = limitFor(limits.memory);
  const inbox = limitFor(limits.inbound);
  // The cap is checked before the body limit and any read of the body: without a valid cap a
  // client cannot make the server buffer, parse or decode up to the class's size limit.
  const cap = (op: CapOp, dataClass: DataClass): MiddlewareHandler<CapEnv> => async (c, next) => {
    c.set("cap", await worker.authorize(bearer(c, "cap_invalid"), op, dataClass));
    await next();
  };

  app.post("/v1/cred/store", cap("store", "credentials"), cred, async (c) => {
    const body = await jsonBody(c);
    return c.json(await worker.credStore(c.get("cap"), base64Field(body, "plaintext_b64")));
  });
  app.post("/v1/cred/fetch", cap("fetch", "credentials"), cred, async (c) => {
    return c.json(fetched(await worker.credFetch(c.get("cap"))));
  });
  app.post("/v1/cred/teardown", cap("teardown", "credentials"), cred, async (c) => {
    return c.json(await worker.credTeardown(c.get("cap")));
  });
  app.post("/v1/memory/put", cap("store", "memory"), mem, async (c) => {
    const body = await jsonBody(c);
    const plaintext = base64Field(body, "plaintext_b64");
    return c.json(await worker.memoryPut(c.get("cap"), body.namespace, body.name, plaintext));
  });
  app.post("/v1/memory/get", cap("fetch", "memory"), mem, async (c) => {
    const body = await jsonBody(c);
    return c.json(fetched(await worker.memoryGet(c.get("cap"), body.namespace, body.name)));
  });
  app.post("/v1/memory/teardown", cap("teardown", "memory"), mem, async (c) => {
    const body = await jsonBody(c);
    return c.json(await worker.memoryTeardown(c.get("cap"), body.namespace, body.name));
  });
  // Inbound (issue 13): the message id is in the body; a cap covers the actor's whole inbox.
  app.post("/v1/inbound/put", cap("store", "inbound"), inbox, async (c) => {
    const body = await jsonBody(c);
    const plaintext = base64Field(body, "plaintext_b64");
    return c.json(await worker.inboundPut(c.get("cap"), body.message_id, plaintext));
  });
  app.post("/v1/inbound/get", cap("fetch", "inbound"), inbox, async (c) => {
    const body = await jsonBody(c);
    return c.json(fetched(await worker.inboundGet(c.get("cap"), body.message_id)));
  });
  app.post("/v1/inbound/list", cap("fetch", "inbound"), inbox, async (c) => {
    const body = await optionalJsonBody(c);
    return c.json(await worker.inboundList(c.get("cap"), body));
  });
  app.post("/v1/inbound/teardown", cap("teardown", "inbound"), inbox, async (c) => {
    const body = await optionalJsonBody(c);
    return c.json(await worker.inboundTeardown(c.get("cap"), body.message_id));
  });
  return app;
}
