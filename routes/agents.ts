/**
 * `POST /v1/agents/purge` (operator session) `{actor_omni}` → `{deleted}`: deletes every blob of
 * one of the operator's agents once it is revoked on chain. Thin: the checks and the deletion
 * are `AgentPurger`'s (lib/worker).
 *
 * @module
 */

import { Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import type { AgentPurger } from "../lib/worker/mod.ts";
import { jsonBody } from "./request.ts";
import { operatorOnly, requireSession, type SessionEnv } from "./session.ts";

export function agentRoutes(broker: Broker, purger: AgentPurger): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  app.post("/v1/agents/purge", requireSession(broker), async (c) => {
    // An agent may not erase itself (or a sibling): purging is the operator's decision.
    const s = operatorOnly(c);
    const body = await jsonBody(c);
    return c.json(await purger.purge(s.operatorOmni, body.actor_omni, { by: s.address }));
  });
  return app;
}
