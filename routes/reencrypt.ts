/**
 * Re-encryption jobs (API.md "Re-encryption jobs"): start, list, read, cancel, and the live
 * event log over `text/event-stream`. Thin: parse, authenticate, call `JobRunner`.
 *
 * Who sees what: an operator session starts and sees jobs for its own `operator_omni`; an admin
 * any operator's and `"all"`. Agent sessions are refused (`operator_only`).
 *
 * The event stream takes the session from `Authorization` or the console's cookie (EventSource
 * cannot set headers), replays from `Last-Event-ID` (header, or `?last_event_id=` for a first
 * connect), follows a running job live, ends after `end`, and stops following as soon as the
 * client goes away.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { Broker } from "../lib/broker/mod.ts";
import { isOmni } from "../lib/identity/mod.ts";
import type { JobEvent, JobRequest, JobRunner } from "../lib/reencrypt/mod.ts";
import type { JobRecord } from "../lib/state/mod.ts";
import { ApiError } from "./errors.ts";
import type { RouteGuards } from "./guards.ts";
import { jsonBody } from "./request.ts";
import { isAdmin, operatorOnly, requireSession, type SessionEnv } from "./session.ts";

/** What the job routes work with. */
export interface ReencryptRouteDeps {
  broker: Broker;
  runner: JobRunner;
  /** Comment lines keep idle streams open through proxies. Default 15 s. */
  keepAliveMs?: number;
  /** Caps the event streams open per session. */
  guards?: RouteGuards;
}

/** Jobs listed by `GET /v1/reencrypt/jobs`. */
const LIST_LIMIT = 20;

export function reencryptRoutes(deps: ReencryptRouteDeps): Hono<SessionEnv> {
  const { broker, runner } = deps;
  const app = new Hono<SessionEnv>();
  const session = requireSession(broker);

  /** The job, if this session may see it: 404 unknown, 403 another operator's. */
  const visibleJob = async (c: Context<SessionEnv>): Promise<JobRecord> => {
    const s = operatorOnly(c);
    const id = c.req.param("id") ?? "";
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
      throw new ApiError(404, "not_found", `no re-encryption job ${id}`);
    }
    const record = await runner.get(id);
    if (record.params.operator_omni !== s.operatorOmni && !(await isAdmin(c, broker))) {
      throw new ApiError(403, "other_operator", "this job belongs to another operator");
    }
    return record;
  };

  app.post("/v1/reencrypt/jobs", session, async (c) => {
    const s = operatorOnly(c);
    const request = parseJobRequest(await jsonBody(c));
    if (request.operator_omni !== s.operatorOmni && !(await isAdmin(c, broker))) {
      throw request.operator_omni === "all"
        ? new ApiError(403, "admin_only", `only an admin may re-encrypt "all" actors`)
        : new ApiError(403, "other_operator", "an operator may re-encrypt only its own blobs");
    }
    const record = await runner.start(request);
    return c.json(publicJob(record), 201);
  });

  app.get("/v1/reencrypt/jobs", session, async (c) => {
    const s = operatorOnly(c);
    const admin = await isAdmin(c, broker);
    // The runner keeps the most recent jobs of each operator; an operator sees only its own.
    const jobs = (await runner.list(LIST_LIMIT, admin ? undefined : s.operatorOmni))
      .map(publicJob);
    return c.json({ jobs });
  });

  app.get("/v1/reencrypt/jobs/:id", session, async (c) => c.json(publicJob(await visibleJob(c))));

  app.post("/v1/reencrypt/jobs/:id/cancel", session, async (c) => {
    const record = await visibleJob(c);
    return c.json(publicJob(await runner.cancel(record.job_id)));
  });

  app.get("/v1/reencrypt/jobs/:id/events", session, async (c) => {
    const record = await visibleJob(c);
    const after = lastEventId(c.req.header("last-event-id") ?? c.req.query("last_event_id"));
    const keepAliveMs = deps.keepAliveMs ?? 15_000;
    // Each open stream holds a follower of the log and a timer until the client leaves.
    const release = deps.guards?.stream(c.get("session"));
    return streamSSE(c, async (stream) => {
      const events = runner.events(record.job_id, after)[Symbol.asyncIterator]();
      const gone = new Promise<null>((resolve) => stream.onAbort(() => resolve(null)));
      const keepAlive = setInterval(() => void stream.write(": keep-alive\n\n"), keepAliveMs);
      try {
        while (!stream.aborted) {
          const next = events.next();
          next.catch(() => {}); // may settle after the client left; never unhandled
          const r: IteratorResult<JobEvent> | null = await Promise.race([next, gone]);
          if (r === null || r.done) break;
          await stream.writeSSE({
            id: String(r.value.id),
            event: r.value.event,
            data: JSON.stringify(r.value.data),
          });
        }
      } catch (err) {
        // The client sees the stream end without `end` and reconnects with Last-Event-ID.
        console.warn(`job ${record.job_id}: event stream failed: ${err}`);
      } finally {
        release?.();
        clearInterval(keepAlive);
        // Stops following the log (once a pending read settles).
        void events.return(undefined).catch(() => {});
      }
    });
  });
  return app;
}

/** The wire view of a job record: no owner host/pid or heartbeat (internal). */
export function publicJob(r: JobRecord) {
  const { owner: _owner, heartbeat_at: _heartbeat, ...rest } = r;
  return rest;
}

/** Types only; `JobRunner.start` checks values against the epoch table (400 `invalid_params`). */
function parseJobRequest(body: Record<string, unknown>): JobRequest {
  const bad = (message: string) => new ApiError(400, "bad_request", message);
  if (typeof body.operator_omni !== "string") {
    throw bad(`operator_omni must be 0x + 64 lowercase hex or "all"`);
  }
  if (body.operator_omni !== "all" && !isOmni(body.operator_omni)) {
    throw bad(`operator_omni must be 0x + 64 lowercase hex or "all"`);
  }
  for (const name of ["old_epoch", "new_epoch"] as const) {
    if (typeof body[name] !== "number") throw bad(`${name} must be a number`);
  }
  if (body.dry_run !== undefined && typeof body.dry_run !== "boolean") {
    throw bad("dry_run must be true or false");
  }
  if (body.concurrency !== undefined && typeof body.concurrency !== "number") {
    throw bad("concurrency must be a number");
  }
  if (
    body.classes !== undefined &&
    !(Array.isArray(body.classes) && body.classes.every((x) => typeof x === "string"))
  ) {
    throw bad("classes must be an array of data class names");
  }
  return {
    operator_omni: body.operator_omni,
    old_epoch: body.old_epoch as number,
    new_epoch: body.new_epoch as number,
    dry_run: (body.dry_run as boolean | undefined) ?? false,
    ...(body.concurrency === undefined ? {} : { concurrency: body.concurrency as number }),
    ...(body.classes === undefined ? {} : { classes: body.classes as string[] }),
  };
}

function lastEventId(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 0;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new ApiError(400, "bad_request", "Last-Event-ID must be a whole number");
  }
  return Number(value.trim());
}
