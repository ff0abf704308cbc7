/**
 * Keyrings (§15, issue 14). Ring records and member keys by session; documents by cap, like
 * memory. Thin: parse, authenticate, one call into `VaultWorker.keyrings` (lib/worker/_keyring.ts).
 *
 * - `GET /v1/keyrings` (operator) → `{rings}`
 * - `POST /v1/keyrings` (operator) `{record}` → `{ring, version}`
 * - `GET /v1/keyrings/:ring` (operator or a member agent of that operator) → `{record}`
 * - `PUT /v1/keyrings/:ring` (operator) `{record}` → `{ring, version, rotation}` (CAS on version)
 * - `POST /v1/member-keys` (any session) `{member_key}` → `{member_key}`: the session's own key
 * - `GET /v1/member-keys/:actor_omni` (the operator, for itself and its agents; an agent, its own)
 * - `POST /v1/keyring/put|get|list|teardown` (Bearer cap of `/v1/cap/keyring-*`)
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { CapOp } from "../lib/cap/mod.ts";
import type { Broker } from "../lib/broker/mod.ts";
import type { AuthorizedCap, VaultWorker } from "../lib/worker/mod.ts";
import { isOmni } from "../lib/identity/mod.ts";
import { ApiError } from "./errors.ts";
import { base64Field, bearer, jsonBody, optionalJsonBody } from "./request.ts";
import { operatorOnly, requireSession, type SessionEnv } from "./session.ts";

/** Paths whose bodies this module limits itself (not the app's 64 KiB default). */
export function isKeyringPath(path: string): boolean {
  return path.startsWith("/v1/keyring/") || path.startsWith("/v1/keyrings");
}

/** `base64`: the payload travels base64-encoded (documents), else as JSON (records). */
function limitFor(bytes: number, base64: boolean) {
  return bodyLimit({
    maxSize: (base64 ? Math.ceil(bytes / 3) * 4 : bytes) + 4096,
    onError: () => {
      throw new ApiError(413, "too_large", "the body exceeds the keyring limit");
    },
  });
}

type CapEnv = { Variables: { cap: AuthorizedCap } };

/** The document routes (caps only); mounted with the other worker routes. */
export function keyringDocRoutes(worker: VaultWorker, limit: number): Hono<CapEnv> {
  const app = new Hono<CapEnv>();
  const docs = limitFor(limit, true);
  // The cap first, then the body (as routes/worker.ts does).
  const cap = (op: CapOp): MiddlewareHandler<CapEnv> => async (c, next) => {
    c.set("cap", await worker.authorize(bearer(c, "cap_invalid"), op, "keyring"));
    await next();
  };
  app.post("/v1/keyring/put", cap("store"), docs, async (c) => {
    const body = await jsonBody(c);
    const document = base64Field(body, "document_b64");
    return c.json(await worker.keyrings.docPut(c.get("cap"), body.name, document));
  });
  app.post("/v1/keyring/get", cap("fetch"), docs, async (c) => {
    const body = await jsonBody(c);
    const r = await worker.keyrings.docGet(c.get("cap"), body.name);
    return c.json({ document_b64: r.document.toBase64(), epoch: r.epoch, rewrapped: r.rewrapped });
  });
  app.post("/v1/keyring/list", cap("fetch"), docs, async (c) => {
    return c.json(await worker.keyrings.docList(c.get("cap")));
  });
  app.post("/v1/keyring/teardown", cap("teardown"), docs, async (c) => {
    const body = await optionalJsonBody(c);
    return c.json(await worker.keyrings.docTeardown(c.get("cap"), body.name));
  });
  return app;
}

/** The record and member-key routes (sessions). */
export function keyringRecordRoutes(
  worker: VaultWorker,
  broker: Broker,
  limit: number,
): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  const records = limitFor(limit, false);
  const session = requireSession(broker);
  app.get("/v1/keyrings", session, async (c) => {
    const s = operatorOnly(c);
    return c.json({ rings: await worker.keyrings.list(s.operatorOmni) });
  });
  app.post("/v1/keyrings", session, records, async (c) => {
    const s = operatorOnly(c);
    const body = await jsonBody(c);
    return c.json(await worker.keyrings.create(s.operatorOmni, body.record));
  });
  app.get("/v1/keyrings/:ring", session, async (c) => {
    const s = c.get("session");
    const record = await worker.keyrings.read(s.operatorOmni, c.req.param("ring"), s.actorOmni);
    return c.json({ record });
  });
  app.put("/v1/keyrings/:ring", session, records, async (c) => {
    const s = operatorOnly(c);
    const body = await jsonBody(c);
    return c.json(await worker.keyrings.update(s.operatorOmni, c.req.param("ring"), body.record));
  });
  app.post("/v1/member-keys", session, async (c) => {
    const s = c.get("session");
    const body = await jsonBody(c);
    // The key must be signed by the session's own key: the wallet, or the device it logged in with.
    const member_key = await worker.keyrings.publishMemberKey(
      s.actorOmni,
      body.member_key,
      (address) => address === s.address,
    );
    return c.json({ member_key });
  });
  app.get("/v1/member-keys/:actor_omni", session, async (c) => {
    const s = c.get("session");
    const actor = c.req.param("actor_omni");
    if (!isOmni(actor)) throw new ApiError(400, "bad_request", "actor_omni must be an omni");
    if (actor !== s.actorOmni) {
      const own = s.kind === "operator" &&
        (await broker.me(s)).agents.some((a) => a.actor_omni === actor);
      if (!own) {
        throw new ApiError(403, "other_operator", "this actor is not this session's or its agent");
      }
    }
    return c.json({ member_key: await worker.keyrings.memberKey(actor) });
  });
  return app;
}
