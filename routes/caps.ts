/**
 * `POST /v1/cap/<kind>` (API.md "Capability mint"): a session in, a cap out.
 *
 * @module
 */

import { Hono } from "hono";
import { type Broker, CAP_KINDS, type CapKind } from "../lib/broker/mod.ts";
import type { RouteGuards } from "./guards.ts";
import { jsonBody } from "./request.ts";
import { requireSession, type SessionEnv } from "./session.ts";

export function capRoutes(broker: Broker, guards?: RouteGuards): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  for (const kind of Object.keys(CAP_KINDS) as CapKind[]) {
    app.post(`/v1/cap/${kind}`, requireSession(broker), async (c) => {
      guards?.mint(c.get("session"));
      const body = await jsonBody(c);
      return c.json(await broker.minter.mint(c.get("session"), kind, body));
    });
  }
  return app;
}
