/**
 * Session authentication for routes: `Authorization: Bearer <session_jwt>` or the console's
 * HttpOnly cookie, verified on every request.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Broker, Session } from "../lib/broker/mod.ts";
import { ApiError } from "./errors.ts";

export const SESSION_COOKIE = "agentkeys_session";

/** Hono variables set by {@linkcode requireSession}. */
export type SessionEnv = { Variables: { session: Session } };

/**
 * Rejects requests without a valid session (401), and agent sessions whose device was revoked
 * or removed since (403 `device_revoked`); exposes the session as `c.get("session")`.
 */
export function requireSession(broker: Broker): MiddlewareHandler<SessionEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    let token: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
      if (!m) {
        throw new ApiError(401, "session_invalid", "send Authorization: Bearer <session_jwt>");
      }
      token = m[1];
    } else {
      token = getCookie(c, SESSION_COOKIE);
      // SameSite=Strict still sends the cookie from other origins of the same site (another
      // port on this host, a sibling subdomain): a state change needs the console's own origin.
      if (
        token !== undefined && !SAFE_METHODS.has(c.req.method) &&
        crossOrigin(c, broker.options.publicUrl)
      ) {
        throw new ApiError(
          403,
          "cross_origin",
          "the session cookie is not accepted from another origin; send Authorization: Bearer",
        );
      }
    }
    c.set("session", await broker.authenticate(token));
    await next();
  };
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whether a browser says the request comes from another origin (`Sec-Fetch-Site`, else
 * `Origin`) than the request's own or `publicUrl`'s. Requests without either header are not
 * from a browser page, so not forgeable.
 */
export function crossOrigin(c: Context, publicUrl: string): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = c.req.header("origin");
  if (origin === undefined) return false;
  return origin !== new URL(c.req.url).origin && origin !== originOf(publicUrl);
}

/**
 * For the POST routes no session protects (sign-in verifies, the chain proxy, the dev faucet):
 * another origin is refused (403 `cross_origin`), and so is any body but JSON (415
 * `unsupported_media_type`): a page can send a form or a `text/plain` "simple" request to any
 * origin without asking, while a cross-origin `fetch` with `application/json` needs a CORS
 * preflight this service never grants. CLIs and viem send JSON without `Origin`, so they pass.
 *
 * ```ts
 * app.post("/v1/auth/siwe/verify", sameOriginJson(publicUrl), handler);
 * ```
 */
export function sameOriginJson(publicUrl: string): MiddlewareHandler {
  return async (c, next) => {
    if (crossOrigin(c, publicUrl)) {
      throw new ApiError(403, "cross_origin", "this request is not accepted from another origin");
    }
    const type = c.req.header("content-type")?.split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      throw new ApiError(415, "unsupported_media_type", "send Content-Type: application/json");
    }
    await next();
  };
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Refuses agent sessions where only the operator may act (403). */
export function operatorOnly(c: Context<SessionEnv>): Session {
  const session = c.get("session");
  if (session.kind !== "operator") {
    throw new ApiError(403, "operator_only", "this needs an operator session, not an agent's");
  }
  return session;
}

/** Whether the request's session is an operator the broker counts as admin. */
export async function isAdmin(c: Context<SessionEnv>, broker: Broker): Promise<boolean> {
  const session = c.get("session");
  return session.kind === "operator" && await broker.admins.isAdmin(session.address);
}

/** Refuses everyone but admins (403 `admin_only`); returns the admin's session. */
export async function requireAdmin(c: Context<SessionEnv>, broker: Broker): Promise<Session> {
  if (!(await isAdmin(c, broker))) {
    throw new ApiError(403, "admin_only", "only an admin of this service may do this");
  }
  return c.get("session");
}

/** Sets the console's session cookie (HttpOnly, SameSite=Strict, Secure over https). */
export function setSessionCookie(c: Context, token: string, expiresAt: number, secure: boolean) {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    secure,
    path: "/",
    expires: new Date(expiresAt * 1000),
  });
}

export function clearSessionCookie(c: Context) {
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
}
