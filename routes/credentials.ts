/**
 * `GET /v1/cred/list?actor_omni=&cursor=&limit=` (operator session, bearer or the console's
 * cookie) → `{items: [{service, epoch, size, updated_at}], next_cursor}`: names and metadata of
 * one actor's credentials, a page at a time. Thin: the checks and the listing are
 * `CredentialLister`'s (lib/worker).
 *
 * @module
 */

import { Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import type { CredentialLister } from "../lib/worker/mod.ts";
import { operatorOnly, requireSession, type SessionEnv } from "./session.ts";

export function credentialListRoutes(
  broker: Broker,
  lister: CredentialLister,
): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  app.get("/v1/cred/list", requireSession(broker), async (c) => {
    // Agents fetch their own credentials with caps; the listing is the operator's view.
    const s = operatorOnly(c);
    return c.json(
      await lister.list(s.operatorOmni, c.req.query("actor_omni"), {
        cursor: c.req.query("cursor"),
        limit: c.req.query("limit"),
      }),
    );
  });
  return app;
}
