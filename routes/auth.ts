/**
 * Login routes (API.md "Operator login", "Agent (device) login"), logout, and the OIDC issuer.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import { ApiError } from "./errors.ts";
import { jsonBody } from "./request.ts";
import {
  clearSessionCookie,
  crossOrigin,
  operatorOnly,
  requireSession,
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
  const guard = loginGuard(broker);
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

/**
 * Login CSRF: a page of another origin must not sign the visitor's browser in (to a session of
 * the attacker's choosing), so the verify routes refuse other origins (as the cookie routes do)
 * and anything but a JSON body (an HTML form cannot send one, and a cross-origin `fetch` with it
 * needs a CORS preflight this service never grants).
 */
function loginGuard(broker: Broker): MiddlewareHandler {
  return async (c, next) => {
    if (crossOrigin(c, broker)) {
      throw new ApiError(403, "cross_origin", "sign-in is not accepted from another origin");
    }
    const type = c.req.header("content-type")?.split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      throw new ApiError(415, "unsupported_media_type", "send Content-Type: application/json");
    }
    await next();
  };
}
