/**
 * Identity reads (API.md "Identity"): the signed-in operator and its agents, service names.
 *
 * @module
 */

import { Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import { ApiError } from "./errors.ts";
import { jsonBody } from "./request.ts";
import { requireSession, type SessionEnv } from "./session.ts";

export function identityRoutes(broker: Broker): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  app.get(
    "/v1/operators/me",
    requireSession(broker),
    async (c) => c.json(await broker.me(c.get("session"))),
  );
  // The chain keeps only keccak256(name); clients teach the names of scopes they have set.
  app.post("/v1/services/names", requireSession(broker), async (c) => {
    const body = await jsonBody(c);
    const names = body.services;
    if (!Array.isArray(names) || names.length > 256 || !names.every((n) => typeof n === "string")) {
      throw new ApiError(400, "bad_request", "services must be an array of service names");
    }
    try {
      await broker.learnServiceNames(c.get("session"), names as string[]);
    } catch (err) {
      if (err instanceof TypeError) throw new ApiError(400, "bad_request", err.message);
      throw err;
    }
    return c.json({ ok: true });
  });
  return app;
}
