/**
 * `GET /metrics` (Prometheus text format) and the middleware that measures every request.
 * On the main port `/metrics` needs an admin session (bearer or the console's cookie): request
 * counts and census figures are the service's business. Scrapers that cannot sign in use the
 * separate listener `AGENTKEYS_METRICS_LISTEN` ({@linkcode metricsOnlyApp}), which serves only
 * `/metrics`, without a session — bind it where only the scraper reaches it.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Broker } from "../lib/broker/mod.ts";
import { ServiceMetrics } from "../lib/metrics/mod.ts";
import { requireAdmin, requireSession, type SessionEnv } from "./session.ts";
import { hostCheck, isIpLiteralHost } from "./host.ts";
import { errorResponse } from "./errors.ts";

const CAP_MINT = /^\/v1\/cap\/([a-z-]+)$/;
// Every route that takes a cap (keyring documents too: their refusals are cap refusals).
const WORKER = /^\/v1\/(cred|memory|inbound|keyring)\//;

/**
 * Times and counts every request by its matched route pattern; counts cap mints and refusals
 * (the refusal's `error` code is read from the JSON answer of failed mint and worker requests).
 */
export function measureRequests(metrics: ServiceMetrics): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    const status = c.res.status;
    // After `next()` the route index is the handler that answered (`-1`, the last *matched*,
    // would name a later catch-all middleware); a catch-all answering means no route matched.
    const pattern = routePath(c);
    const route = pattern === "*" || pattern === "/*" ? "(unmatched)" : pattern;
    metrics.observeRequest(route, c.req.method, status, (performance.now() - start) / 1000);
    const path = c.req.path;
    const mint = CAP_MINT.exec(path);
    if (mint && status < 300) metrics.capMinted(mint[1]);
    if ((mint || WORKER.test(path)) && status >= 400) {
      const code = await errorCode(c.res);
      if (mint) metrics.capRefused("mint", code);
      else if (ServiceMetrics.isCapRefusal(code)) metrics.capRefused("use", code);
    }
  };
}

async function errorCode(res: Response): Promise<string> {
  try {
    const body = await res.clone().json();
    return typeof body?.error === "string" ? body.error : "unknown";
  } catch {
    return "unknown";
  }
}

/** `GET /metrics` for admin sessions on the main port. */
export function metricsRoutes(deps: { broker: Broker; metrics: ServiceMetrics }): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  app.get("/metrics", requireSession(deps.broker), async (c) => {
    await requireAdmin(c, deps.broker);
    return exposition(deps.metrics);
  });
  return app;
}

/**
 * The scrapers' listener: `GET /metrics` only, no session (AGENTKEYS_METRICS_LISTEN). With
 * `listen` (its address), only requests naming that host, a loopback name or an IP literal are
 * answered (421 otherwise): a web page that rebinds its DNS name to this address cannot read it.
 */
export function metricsOnlyApp(
  metrics: ServiceMetrics,
  listen?: { hostname: string; port: number },
): Hono {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  if (listen) {
    app.use(hostCheck({
      publicUrl: `http://${listen.hostname}:${listen.port}`,
      port: listen.port,
      alsoAllow: isIpLiteralHost,
    }));
  }
  app.get("/metrics", () => exposition(metrics));
  app.notFound((c) => c.json({ error: "not_found", message: "only GET /metrics here" }, 404));
  return app;
}

async function exposition(metrics: ServiceMetrics): Promise<Response> {
  return new Response(await metrics.text(), {
    headers: { "content-type": metrics.contentType, "cache-control": "no-store" },
  });
}
