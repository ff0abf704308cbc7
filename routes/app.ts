/**
 * The HTTP application: every route, one error handler. Routes stay thin — parse, authenticate,
 * call into `lib/`.
 *
 * @module
 */

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { DataClass } from "../lib/crypto/mod.ts";
import type { VaultWorker } from "../lib/worker/mod.ts";
import type { Broker } from "../lib/broker/mod.ts";
import { authRoutes } from "./auth.ts";
import { capRoutes } from "./caps.ts";
import { identityRoutes } from "./identity.ts";
import { chainRoutes } from "./chain.ts";
import type { OpenChain } from "../lib/chain/mod.ts";
import type { EpochAdmin, JobRunner } from "../lib/reencrypt/mod.ts";
import { epochRoutes } from "./epochs.ts";
import { reencryptRoutes } from "./reencrypt.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { mountOpenApi } from "./openapi.ts";
import { workerRoutes } from "./worker.ts";

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
}

export interface AppDeps {
  worker: VaultWorker;
  /** Absent in worker-only tests; the service always has one. */
  broker?: Broker;
  chain?: OpenChain;
  /** Epoch administration and re-encryption jobs (mounted with the broker, which authenticates). */
  epochs?: { admin: EpochAdmin; runner: JobRunner; keepAliveMs?: number };
  publicUrl?: string;
  limits: Record<DataClass, number>;
  health: HealthInfo;
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
  mountOpenApi(app, deps.publicUrl ?? deps.broker?.options.publicUrl ?? "");
  app.get("/healthz", (c) =>
    c.json({
      ok: true,
      version: deps.health.version,
      roles: deps.health.roles,
      store: deps.health.store,
      chain_id: deps.health.chainId,
      k3_epoch: deps.health.activeEpoch(),
    }));
  // Before any route reads it, so nobody (signed in or not) can make the server buffer a huge body.
  const small = bodyLimit({
    maxSize: SMALL_BODY_MAX,
    onError: () => {
      throw new ApiError(413, "too_large", `the body exceeds ${SMALL_BODY_MAX} bytes`);
    },
  });
  app.use("*", (c, next) => isWorkerPath(c.req.path) ? next() : small(c, next));
  app.route("/", workerRoutes(deps.worker, deps.limits));
  if (deps.broker) {
    app.route("/", authRoutes(deps.broker, deps.publicUrl ?? deps.broker.options.publicUrl));
    app.route("/", capRoutes(deps.broker));
    app.route("/", identityRoutes(deps.broker));
    if (deps.epochs) {
      app.route("/", epochRoutes({ broker: deps.broker, admin: deps.epochs.admin }));
      app.route(
        "/",
        reencryptRoutes({
          broker: deps.broker,
          runner: deps.epochs.runner,
          keepAliveMs: deps.epochs.keepAliveMs,
        }),
      );
    }
  }
  if (deps.chain) app.route("/", chainRoutes(deps.chain));
  return app;
}

/** The worker routes limit their bodies themselves (routes/worker.ts). */
function isWorkerPath(path: string): boolean {
  return path.startsWith("/v1/cred/") || path.startsWith("/v1/memory/");
}
