/**
 * The HTTP application: every route, one error handler. Routes stay thin — parse, authenticate,
 * call into `lib/`.
 *
 * @module
 */

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DataClass } from "../lib/crypto/mod.ts";
import type { AgentPurger, CredentialLister, VaultWorker } from "../lib/worker/mod.ts";
import type { Broker, IdentityEventFeed } from "../lib/broker/mod.ts";
import { agentEventRoutes } from "./agent_events.ts";
import { authRoutes } from "./auth.ts";
import { capRoutes } from "./caps.ts";
import { agentRoutes } from "./agents.ts";
import { credentialListRoutes } from "./credentials.ts";
import { proofRoutes } from "./integrity.ts";
import type { AnchorStatus, BlobProofs } from "../lib/integrity/mod.ts";
import { identityRoutes } from "./identity.ts";
import { CHAIN_RPC_PATH, chainRoutes } from "./chain.ts";
import type { OpenChain } from "../lib/chain/mod.ts";
import type { EpochAdmin } from "../lib/epochs/mod.ts";
import type { JobRunner } from "../lib/reencrypt/mod.ts";
import type { KvAuditLog } from "../lib/state/mod.ts";
import { epochRoutes } from "./epochs.ts";
import { reencryptRoutes } from "./reencrypt.ts";
import { migrateRoutes } from "./migrate.ts";
import type { MigrationJobs } from "../lib/migrate/mod.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { hostCheck } from "./host.ts";
import { mountOpenApi } from "./openapi.ts";
import { workerRoutes } from "./worker.ts";
import { isKeyringPath, keyringDocRoutes, keyringRecordRoutes } from "./keyrings.ts";
import { consoleRoutes } from "./console.tsx";
import { RouteGuards } from "./guards.ts";
import { sameOriginJson } from "./session.ts";
import { defaultGuards, type Guards } from "../lib/config/mod.ts";
import type { ForwardSecrecyWindow, LifecycleStatus } from "../lib/lifecycle/mod.ts";
import type { ServiceMetrics } from "../lib/metrics/mod.ts";
import { measureRequests, metricsRoutes } from "./metrics.ts";

/**
 * Largest body of every route but the worker's (which carry payloads and have their own
 * per-class limits): logins, mints, epochs and jobs take a few small JSON fields.
 */
export const SMALL_BODY_MAX = 64 * 1024;

/** What `/healthz` reports; gathered by the service. */
export interface HealthInfo {
  version: string;
  roles: string[];
  store: "fs" | "s3";
  chainId: number | null;
  activeEpoch: () => number;
  /** The forward-secrecy window (lib/lifecycle), with its warning when past the bound. */
  window?: () => ForwardSecrecyWindow;
  /** Vault integrity: the anchor status (lib/integrity). */
  integrity?: () => AnchorStatus;
}

export interface AppDeps {
  worker: VaultWorker;
  /** Absent in worker-only tests; the service always has one. */
  broker?: Broker;
  chain?: OpenChain;
  /** Epoch administration and re-encryption jobs (mounted with the broker, which authenticates). */
  epochs?: { admin: EpochAdmin; runner: JobRunner; keepAliveMs?: number };
  /** `migrate-legacy` as HTTP jobs (issue 13; mounted with the broker, which authenticates). */
  migrations?: MigrationJobs;
  /** Purging revoked agents' blobs (mounted with the broker, which authenticates). */
  purger?: AgentPurger;
  /** The chain's identity events for `GET /v1/agents/events` (mounted with the broker). */
  agentEvents?: IdentityEventFeed;
  /** Listing an actor's credentials for its operator (mounted with the broker). */
  lister?: CredentialLister;
  /** Proofs of blobs against the anchors (mounted with the broker, which authenticates). */
  proofs?: BlobProofs;
  /** The console's audit page reads it (mounted with the broker). */
  audit?: Pick<KvAuditLog, "page">;
  publicUrl?: string;
  /**
   * The port the server is bound to: loopback Host names are accepted with it (routes/host.ts).
   * In-process tests calling `app.request("/path")` (that is `http://localhost/path`) pass 80.
   */
  port: number;
  limits: Record<DataClass, number>;
  health: HealthInfo;
  /** Rate limits and caps (the config's `guards`); absent: the documented defaults. */
  guards?: Guards;
  /** The limiters' clock (tests). */
  now?: () => number;
  /** Request metrics and `GET /metrics` (admin sessions). */
  metrics?: ServiceMetrics;
  /** The lifecycle scheduler's status, for the console's overview. */
  lifecycle?: { status(): Promise<LifecycleStatus> };
}

/**
 * ```ts
 * const app = createApp({ worker, limits, health });
 * Deno.serve(app.fetch);
 * ```
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err));
  app.notFound((c) =>
    c.json({ error: "not_found", message: `no route ${c.req.method} ${c.req.path}` }, 404)
  );
  const publicUrl = deps.publicUrl ?? deps.broker?.options.publicUrl;
  // Measures everything, refusals of the host check included.
  if (deps.metrics) app.use("*", measureRequests(deps.metrics));
  // First of all: a rebound DNS name gets nothing, not even /healthz.
  app.use("*", hostCheck({ publicUrl, port: deps.port }));
  app.use("*", refuseHeadOfStreams);
  mountOpenApi(app, publicUrl ?? "");
  app.get("/healthz", (c) =>
    c.json({
      ok: true,
      version: deps.health.version,
      roles: deps.health.roles,
      store: deps.health.store,
      chain_id: deps.health.chainId,
      k3_epoch: deps.health.activeEpoch(),
      ...healthWindow(deps.health.window?.()),
      ...(deps.health.integrity ? { integrity: publicIntegrity(deps.health.integrity()) } : {}),
    }));
  // Before any route reads it, so nobody (signed in or not) can make the server buffer a huge body.
  const small = bodyLimit({
    maxSize: SMALL_BODY_MAX,
    onError: () => {
      throw new ApiError(413, "too_large", `the body exceeds ${SMALL_BODY_MAX} bytes`);
    },
  });
  app.use(
    "*",
    (c, next) => isWorkerPath(c.req.path) || isKeyringPath(c.req.path) ? next() : small(c, next),
  );
  const guards = new RouteGuards(deps.guards ?? defaultGuards(), { now: deps.now });
  for (const path of LOGIN_PATHS) app.use(path, guards.login);
  if (deps.chain?.embedded) {
    // No session protects these: a web page must not drive them (drive-by), and its requests
    // are refused before they spend the budget the local CLI shares (all loopback is one key).
    const browser = sameOriginJson(publicUrl ?? "");
    app.use(CHAIN_RPC_PATH, browser, guards.rpc);
    app.use("/v1/dev/faucet", browser, guards.faucet);
  }
  app.route("/", workerRoutes(deps.worker, deps.limits));
  app.route("/", keyringDocRoutes(deps.worker, deps.limits.keyring));
  if (deps.broker) {
    app.route("/", authRoutes(deps.broker, deps.publicUrl ?? deps.broker.options.publicUrl));
    app.route("/", capRoutes(deps.broker, guards));
    app.route("/", identityRoutes(deps.broker));
    app.route("/", keyringRecordRoutes(deps.worker, deps.broker, deps.limits.keyring));
    if (deps.purger) app.route("/", agentRoutes(deps.broker, deps.purger));
    if (deps.migrations) {
      app.route("/", migrateRoutes({ broker: deps.broker, jobs: deps.migrations, guards }));
    }
    if (deps.lister) app.route("/", credentialListRoutes(deps.broker, deps.lister));
    if (deps.proofs) app.route("/", proofRoutes(deps.broker, deps.proofs));
    if (deps.agentEvents) {
      app.route("/", agentEventRoutes({ broker: deps.broker, feed: deps.agentEvents, guards }));
    }
    if (deps.epochs) {
      app.route("/", epochRoutes({ broker: deps.broker, admin: deps.epochs.admin }));
      app.route(
        "/",
        reencryptRoutes({
          broker: deps.broker,
          runner: deps.epochs.runner,
          keepAliveMs: deps.epochs.keepAliveMs,
          guards,
        }),
      );
    }
  }
  if (deps.broker && deps.metrics) {
    app.route("/", metricsRoutes({ broker: deps.broker, metrics: deps.metrics }));
  }
  if (deps.chain) app.route("/", chainRoutes(deps.chain, publicUrl ?? ""));
  // The web console: pages for browsers, after the API so no page path shadows a route.
  if (deps.broker) {
    app.route(
      "/",
      consoleRoutes({
        broker: deps.broker,
        publicUrl: publicUrl ?? deps.broker.options.publicUrl,
        chain: deps.chain,
        epochs: deps.epochs,
        credentials: deps.lister,
        audit: deps.audit,
        keyrings: deps.worker.keyrings,
        lifecycle: deps.lifecycle,
        integrity: deps.health.integrity,
        migrations: deps.migrations,
      }),
    );
  }
  return app;
}

/** `/healthz`'s window fields: the number, and the warning when it is past its bound. */
function healthWindow(w: ForwardSecrecyWindow | undefined): Record<string, unknown> {
  if (!w) return {};
  return {
    forward_secrecy_window_seconds: w.seconds,
    forward_secrecy_bound_seconds: w.bound_seconds,
    ...(w.warning ? { warnings: [w.warning] } : {}),
  };
}

/** Anyone may call these, so each client address gets a budget (AGENTKEYS_RATE_LOGIN). */
const LOGIN_PATHS = [
  "/v1/auth/siwe/start",
  "/v1/auth/siwe/verify",
  "/v1/auth/device/start",
  "/v1/auth/device/verify",
];

/**
 * What `/healthz` (no session) says about anchoring: only what the chain already shows (the
 * latest anchor) and whether something is wrong. The write rate (`pending_writes`) and error
 * details are for admins (console, `/metrics`) (review).
 */
function publicIntegrity(s: AnchorStatus) {
  return {
    enabled: s.enabled,
    anchored_seq: s.anchored_seq,
    anchored_at: s.anchored_at,
    tx_hash: s.tx_hash,
    failing: s.failures > 0,
    blocked: s.blocked !== null,
  };
}

/** The worker routes limit their bodies themselves (routes/worker.ts). */
function isWorkerPath(path: string): boolean {
  return path.startsWith("/v1/cred/") || path.startsWith("/v1/memory/") ||
    path.startsWith("/v1/inbound/");
}

/**
 * `HEAD` of an event stream is 405. Hono answers HEAD with the GET handler's headers and drops its
 * body unread, so a stream's cleanup never ran: each HEAD kept a feed listener, a timer and a
 * stream slot forever (review finding).
 */
const refuseHeadOfStreams: MiddlewareHandler = async (c, next) => {
  if (c.req.method === "HEAD" && c.req.path.endsWith("/events")) {
    return c.json(
      { error: "method_not_allowed", message: "event streams answer GET only" },
      405,
      { allow: "GET" },
    );
  }
  await next();
};
