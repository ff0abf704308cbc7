/**
 * `migrate-legacy` as a job of the running service (issue 13): `POST /v1/migrate/jobs`, `GET
 * /v1/migrate/jobs[/:id]`, and `GET /v1/migrate/jobs/:id/events` (SSE: `blob`, `summary`, `end`,
 * replay from `Last-Event-ID`). Thin: parse, authenticate, call `MigrationJobs`.
 *
 * An operator session migrates its own wallet's legacy credentials only (`operator` must be the
 * session's address); mapping other legacy wallets to agents (`map`) needs an admin session;
 * agent sessions are refused. The source is the service's configured one
 * (`AGENTKEYS_LEGACY_S3_*`, else the vault store): a request never names an endpoint, so no
 * session can make the service fetch from a URL of its choosing.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { privateKeyToAccount } from "viem/accounts";
import type { Broker } from "../lib/broker/mod.ts";
import { isAddress, operatorOmniOf } from "../lib/identity/mod.ts";
import {
  InvalidMigrateParams,
  type MigrationEvent,
  type MigrationJob,
  type MigrationJobs,
  MigrationRunning,
} from "../lib/migrate/mod.ts";
import { ApiError } from "./errors.ts";
import type { RouteGuards } from "./guards.ts";
import { jsonBody } from "./request.ts";
import { operatorOnly, requireAdmin, requireSession, type SessionEnv } from "./session.ts";

export interface MigrateRouteDeps {
  broker: Broker;
  jobs: MigrationJobs;
  keepAliveMs?: number;
  guards?: RouteGuards;
}

export function migrateRoutes(deps: MigrateRouteDeps): Hono<SessionEnv> {
  const { broker, jobs } = deps;
  const app = new Hono<SessionEnv>();
  const session = requireSession(broker);

  const visible = (c: Context<SessionEnv>): MigrationJob => {
    const s = operatorOnly(c);
    const job = jobs.get(c.req.param("id") ?? "");
    if (!job) throw new ApiError(404, "not_found", "no such migration job");
    if (job.operator_omni !== s.operatorOmni) {
      throw new ApiError(403, "other_operator", "this job belongs to another operator");
    }
    return job;
  };

  app.post("/v1/migrate/jobs", session, async (c) => {
    const s = operatorOnly(c);
    const body = await jsonBody(c);
    const bad = (m: string) => new ApiError(400, "bad_request", m);
    if (typeof body.operator !== "string" || !isAddress(body.operator)) {
      throw bad("operator must be the operator's 0x wallet address");
    }
    if (operatorOmniOf(body.operator.toLowerCase()) !== s.operatorOmni) {
      throw new ApiError(403, "other_operator", "an operator may migrate only its own wallet");
    }
    const key = body.legacy_signer_key;
    if (typeof key !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
      throw bad("legacy_signer_key must be 0x + 64 hex");
    }
    let signer;
    try {
      signer = privateKeyToAccount(key as `0x${string}`);
    } catch {
      // 0 or not below the curve order: viem's error carries the key (as a number) into the
      // log, and it is the client's mistake, not the server's (was a 500).
      throw bad("legacy_signer_key is not a valid secp256k1 private key");
    }
    const map = body.map ?? {};
    if (
      typeof map !== "object" || map === null || Array.isArray(map) ||
      !Object.values(map).every((v) => typeof v === "string")
    ) {
      throw bad("map must be an object of wallet → agent label");
    }
    // A mapped wallet proves nothing about who asks: mapping another operator's wallet listed
    // that operator's credentials (review). Over HTTP only admins, who hold the legacy signer key
    // of the whole old deployment anyway, may map; an operator migrates its own wallet.
    if (Object.keys(map).length > 0) await requireAdmin(c, broker);
    for (const f of ["dry_run", "delete_legacy"] as const) {
      if (body[f] !== undefined && typeof body[f] !== "boolean") {
        throw bad(`${f} must be a boolean`);
      }
    }
    if (body.dry_run === true && body.delete_legacy === true) {
      throw bad("a dry run deletes nothing; drop delete_legacy");
    }
    try {
      const job = await jobs.start({
        operator: body.operator,
        map: map as Record<string, string>,
        dryRun: body.dry_run === true,
        deleteLegacy: body.delete_legacy === true,
      }, signer);
      return c.json(job, 201);
    } catch (err) {
      if (err instanceof InvalidMigrateParams) {
        throw new ApiError(400, "invalid_params", err.message);
      }
      if (err instanceof MigrationRunning) {
        return c.json({ error: "job_running", message: err.message, job_id: err.jobId }, 409);
      }
      throw err;
    }
  });

  app.get(
    "/v1/migrate/jobs",
    session,
    (c) => c.json({ jobs: jobs.list(operatorOnly(c).operatorOmni) }),
  );
  app.get("/v1/migrate/jobs/:id", session, (c) => c.json(visible(c)));

  app.get("/v1/migrate/jobs/:id/events", session, (c) => {
    const job = visible(c);
    const raw = c.req.header("last-event-id") ?? c.req.query("last_event_id") ?? "0";
    const after = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : 0;
    const release = deps.guards?.stream(c.get("session"));
    return streamSSE(c, async (stream) => {
      const events = jobs.events(job.job_id, after);
      const gone = new Promise<null>((resolve) => stream.onAbort(() => resolve(null)));
      const keepAlive = setInterval(
        () => void stream.write(": keep-alive\n\n"),
        deps.keepAliveMs ?? 15_000,
      );
      try {
        while (!stream.aborted) {
          const next = events.next();
          next.catch(() => {});
          const r: IteratorResult<MigrationEvent> | null = await Promise.race([next, gone]);
          if (r === null || r.done) break;
          await stream.writeSSE({
            id: String(r.value.id),
            event: r.value.event,
            data: JSON.stringify(r.value.data),
          });
        }
      } finally {
        release?.();
        clearInterval(keepAlive);
        void events.return(undefined).catch(() => {});
      }
    });
  });
  return app;
}
