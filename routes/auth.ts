/**
 * Login routes (API.md "Operator login", "Agent (device) login"), logout, and the OIDC issuer.
 *
 * @module
 */

import { Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import { jsonBody } from "./request.ts";
import {
  clearSessionCookie,
  operatorOnly,
  requireSession,
  sameOriginJson,
  type SessionEnv,
  setSessionCookie,
} from "./session.ts";

export function authRoutes(broker: Broker, publicUrl: string): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  const secure = publicUrl.startsWith("https://");

  app.post("/v1/auth/siwe/start", async (c) => {
    const body = await jsonBody(c);
    return c.json(await broker.siwe.start(body.address, body.chain_id));
  });
  // Login CSRF: a page of another origin must not sign the visitor's browser in (to a session
  // of the attacker's choosing).
  const guard = sameOriginJson(publicUrl);
  app.post("/v1/auth/siwe/verify", guard, async (c) => {
    const body = await jsonBody(c);
    const { session, ...result } = await broker.finishSiwe(body.request_id, body.signature);
    setSessionCookie(c, result.session_jwt, session.expiresAt, secure);
    return c.json(result);
  });
  app.post("/v1/auth/device/start", async (c) => {
    const body = await jsonBody(c);
    return c.json(await broker.device.start(body.device_address));
  });
  app.post("/v1/auth/device/verify", guard, async (c) => {
    const body = await jsonBody(c);
    const { session: _session, ...result } = await broker.finishDevice(
      body.request_id,
      body.signature,
    );
    return c.json(result);
  });
  // Bearer or cookie; the cookie passes requireSession's cross-origin check.
  app.post("/v1/auth/claim-admin", requireSession(broker), async (c) => {
    const session = operatorOnly(c);
    const body = await jsonBody(c);
    return c.json({ ...(await broker.admins.claim(session.address, body.token)), is_admin: true });
  });
  app.post("/v1/auth/logout", requireSession(broker), async (c) => {
    await broker.sessions.revoke(c.get("session"));
    clearSessionCookie(c);
    return c.json({ ok: true });
  });

  app.get("/.well-known/openid-configuration", (c) => c.json(broker.oidc.discovery()));
  app.get("/.well-known/jwks.json", (c) => c.json(broker.oidc.jwks()));
  app.post("/v1/mint-oidc-jwt", requireSession(broker), async (c) => {
    const body = await jsonBody(c).catch(() => ({} as Record<string, unknown>));
    return c.json(await broker.oidc.mint(c.get("session"), body.audience));
  });
  return app;
}
