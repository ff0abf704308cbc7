/**
 * The web console (ARCHITECTURE §10): server-rendered pages (`routes/pages/`, one module per page
 * exporting its loader and its component), their islands' bundle and the stylesheet under
 * `/static/`. Pages are for browsers only: they authenticate with the HttpOnly session cookie
 * (never a token in a URL) and send a signed-out visitor to `/login`.
 *
 * Every answer here carries a strict Content-Security-Policy (scripts, styles, connections only
 * from this origin; no inline script, handler or style; no framing), `nosniff` and
 * `Referrer-Policy: no-referrer`.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { type Session, SessionInvalid } from "../lib/broker/mod.ts";
import type { PageDeps } from "./pages/_deps.ts";
import { renderPage } from "./pages/_app.tsx";
import { serveStatic } from "./pages/_static.ts";
import LoginPage, { load as loadLogin } from "./pages/login.tsx";
import OverviewPage, { load as loadOverview } from "./pages/index.tsx";
import AgentsPage, { AgentPage, load as loadAgents, NoAgentPage } from "./pages/agents.tsx";
import CredentialsPage, {
  load as loadCredentials,
  NoAgentCredentialsPage,
} from "./pages/credentials.tsx";
import EpochsPage, { load as loadEpochs } from "./pages/epochs.tsx";
import JobPage, { load as loadJob } from "./pages/jobs.tsx";
import AuditPage, { load as loadAudit } from "./pages/audit.tsx";
import MigrationsPage, {
  load as loadMigrations,
  loadJob as loadMigrationJob,
  MigrationJobPage,
} from "./pages/migrations.tsx";
import KeyringsPage, { KeyringPage, load as loadKeyrings, loadRing } from "./pages/keyrings.tsx";
import { SESSION_COOKIE } from "./session.ts";

export type { PageDeps };

/** The console's Content-Security-Policy. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

/** The paths the console answers (the JSON API keeps its own). */
export const CONSOLE_PATHS = [
  "/",
  "/login",
  "/agents",
  "/agents/*",
  "/credentials",
  "/epochs",
  "/jobs/*",
  "/migrations",
  "/migrations/*",
  "/audit",
  "/keyrings",
  "/keyrings/*",
  "/favicon.ico",
  "/static/*",
];

const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header("content-security-policy", CONTENT_SECURITY_POLICY);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "no-referrer");
  c.header("x-frame-options", "DENY");
};

/**
 * ```ts
 * app.route("/", consoleRoutes({ broker, publicUrl, chain, epochs: { admin, runner } }));
 * ```
 */
export function consoleRoutes(deps: PageDeps): Hono {
  const app = new Hono();
  for (const path of CONSOLE_PATHS) app.use(path, securityHeaders);
  const publicUrl = new URL(deps.publicUrl);

  app.get("/static/*", (c) => serveStatic(c, c.req.path.slice("/static/".length)));
  app.get("/favicon.ico", (c) => serveStatic(c, "favicon.svg"));

  app.get("/login", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    if (await pageSession(c, deps)) return c.redirect("/", 303);
    return page(c, LoginPage(await loadLogin(deps)));
  });
  app.get("/", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, OverviewPage(await loadOverview(deps, session)));
  });
  app.get("/agents", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, AgentsPage(await loadAgents(deps, session)));
  });
  app.get("/agents/:label", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const data = await loadAgents(deps, session);
    const label = c.req.param("label");
    const found = AgentPage(data, label);
    if (found) return page(c, found);
    // Another operator's agent answers exactly like no agent: labels are not disclosed.
    c.status(404);
    return page(c, NoAgentPage(data, label));
  });
  app.get("/credentials", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const data = await loadCredentials(deps, session, null, c.req.query());
    return page(c, CredentialsPage(data!));
  });
  app.get("/agents/:label/credentials", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const label = c.req.param("label");
    const data = await loadCredentials(deps, session, label, c.req.query());
    if (data) return page(c, CredentialsPage(data));
    // Another operator's agent answers exactly like no agent: labels are not disclosed.
    c.status(404);
    const viewer = {
      address: session.address,
      isAdmin: await deps.broker.admins.isAdmin(session.address),
    };
    return page(c, NoAgentCredentialsPage(viewer, label));
  });
  app.get("/epochs", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, EpochsPage(await loadEpochs(deps, session, c.req.query())));
  });
  app.get("/jobs/:id", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const data = await loadJob(deps, session, c.req.param("id"));
    // As the API answers: 404 unknown, 403 another operator's.
    if (!data.found) c.status(data.status);
    return page(c, JobPage(data));
  });
  app.get("/migrations", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, MigrationsPage(await loadMigrations(deps, session)));
  });
  app.get("/migrations/:id", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const data = await loadMigrationJob(deps, session, c.req.param("id"));
    // As the API answers: 404 unknown, 403 another operator's.
    if (!data.found) c.status(data.status);
    return page(c, MigrationJobPage(data));
  });
  app.get("/keyrings", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, KeyringsPage(await loadKeyrings(deps, session, c.req.query())));
  });
  app.get("/keyrings/:ring", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    const data = await loadRing(deps, session, c.req.param("ring"), c.req.query());
    // Unknown and another operator's ring answer alike.
    if (!data.record) c.status(404);
    return page(c, KeyringPage(data));
  });
  app.get("/audit", async (c) => {
    const elsewhere = sameOriginOnly(c, publicUrl);
    if (elsewhere) return elsewhere;
    const session = await pageSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return page(c, AuditPage(await loadAudit(deps, session, c.req.query())));
  });
  return app;
}

function page(c: Context, vnode: Parameters<typeof renderPage>[0]): Response {
  // Pages show an operator's own data: never kept by a shared cache or the back button.
  c.header("cache-control", "no-store");
  return c.html(renderPage(vnode));
}

/**
 * The operator signed in with the cookie, or null (no cookie, expired, revoked, or an agent's).
 * A page never fails on a bad cookie: it just asks the visitor to sign in again.
 */
async function pageSession(c: Context, deps: PageDeps): Promise<Session | null> {
  const token = getCookie(c, SESSION_COOKIE);
  if (token === undefined) return null;
  try {
    const session = await deps.broker.sessions.verify(token);
    return session.kind === "operator" ? session : null;
  } catch (err) {
    if (err instanceof SessionInvalid) return null;
    throw err;
  }
}

/**
 * Pages live on the public URL's origin only: the SIWE message names it (the sign-in island
 * refuses one that does not name the page's own origin), and the session cookie belongs to it.
 * A loopback alias the Host check lets through (`localhost` for `127.0.0.1`) is redirected.
 */
function sameOriginOnly(c: Context, publicUrl: URL): Response | undefined {
  const url = new URL(c.req.url);
  // The host only: behind a TLS-terminating proxy the request URL says http:, and comparing
  // schemes would redirect https://vault.example to itself forever.
  if (url.host === publicUrl.host) return undefined;
  return c.redirect(`${publicUrl.origin}${url.pathname}`, 302);
}
