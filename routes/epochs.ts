/**
 * Epochs and signer (API.md "Epochs and signer"): the epoch table with the latest census,
 * rotation, census and destruction. Thin: parse, authenticate, call `EpochAdmin`.
 *
 * A rotation or destruction whose keystore step succeeded but whose chain step did not answers
 * **502 `chain_unrecorded`** with the keystore's result and `pending: true`: the key change
 * stands (do not retry — that would rotate again), the chain record waits as a pending chain
 * record for `deno task signer reconcile`. See docs/DECISIONS.md.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Broker } from "../lib/broker/mod.ts";
import type { ChainOutcome, EpochAdmin } from "../lib/epochs/mod.ts";
import type { Census, EpochCounts } from "../lib/state/mod.ts";
import type { EpochInfo } from "../lib/epochs/mod.ts";
import { ApiError } from "./errors.ts";
import { optionalJsonBody } from "./request.ts";
import { isAdmin, operatorOnly, requireAdmin, requireSession, type SessionEnv } from "./session.ts";

/** What the epoch routes work with. */
export interface EpochRouteDeps {
  broker: Broker;
  admin: EpochAdmin;
}

/** `census` of API.md: the latest global counts and the session operator's counts. */
export interface WireCensus {
  taken_at: string | null;
  global: EpochCounts | null;
  operator: EpochCounts | null;
  /** When the operator's counts were taken (a census of its actors may be newer or older). */
  operator_taken_at: string | null;
}

export function epochRoutes(deps: EpochRouteDeps): Hono<SessionEnv> {
  const { broker, admin } = deps;
  const app = new Hono<SessionEnv>();
  const session = requireSession(broker);

  app.get("/v1/epochs", session, async (c) => {
    const s = c.get("session");
    // The whole store's counts say how much other operators keep: admins only (global: null).
    const isAdminSession = await isAdmin(c, broker);
    const view = await admin.overview(s.operatorOmni, { global: isAdminSession });
    const body: Record<string, unknown> = {
      active: view.active,
      epochs: view.epochs.map(wireEpoch),
      census: wireCensus(view.latestGlobal, view.latestOperator),
    };
    // Chain gaps are the admin's business (their errors may name internal endpoints).
    if (isAdminSession) body.chain_pending = view.pending;
    return c.json(body);
  });

  app.post("/v1/epochs/rotate", session, async (c) => {
    const s = await requireAdmin(c, broker);
    const r = await admin.rotate({ by: s.address });
    if (r.chain.status === "recorded") {
      return c.json({ active: r.active, previous: r.previous, tx_hash: r.chain.txHash });
    }
    return unrecorded(
      c,
      `the keystore rotated to epoch ${r.active}, but the chain did not record it`,
      { active: r.active, previous: r.previous },
      r.chain,
    );
  });

  app.post("/v1/epochs/census", session, async (c) => {
    const s = operatorOnly(c);
    const body = await optionalJsonBody(c);
    const scope = body.scope ?? "operator";
    if (scope !== "global" && scope !== "operator") {
      throw new ApiError(400, "bad_request", `scope must be "global" or "operator"`);
    }
    if (scope === "global") await requireAdmin(c, broker);
    const census = await admin.census({ scope, operatorOmni: s.operatorOmni });
    return c.json({ census: freshCensus(census) });
  });

  app.post("/v1/epochs/:n/destroy", session, async (c) => {
    const s = await requireAdmin(c, broker);
    const n = c.req.param("n");
    if (!/^\d{1,15}$/.test(n) || Number(n) < 1) {
      throw new ApiError(400, "bad_request", `the epoch must be a whole number >= 1, got ${n}`);
    }
    const body = await optionalJsonBody(c);
    if (body.force !== undefined && typeof body.force !== "boolean") {
      throw new ApiError(400, "bad_request", "force must be true or false");
    }
    const r = await admin.destroy(Number(n), { force: body.force === true, by: s.address });
    // A supplied seal key still opens pre-destruction copies of the keystore: say so to the
    // admin and in the service log.
    const seal = { seal_key: r.sealKey, ...(r.warning ? { warning: r.warning } : {}) };
    if (r.warning) console.warn(`epoch ${r.epoch} destroyed: ${r.warning}`);
    if (r.chain.status === "recorded") {
      return c.json({
        epoch: r.epoch,
        destroyed_at: r.destroyedAt,
        tx_hash: r.chain.txHash,
        forced: r.forced,
        ...seal,
      });
    }
    return unrecorded(
      c,
      `epoch ${r.epoch} is destroyed, but the chain did not record it`,
      { epoch: r.epoch, destroyed_at: r.destroyedAt, forced: r.forced, ...seal },
      r.chain,
    );
  });
  return app;
}

function wireEpoch(e: EpochInfo) {
  return {
    epoch: e.epoch,
    state: e.state,
    created_at: e.createdAt,
    ...(e.retiredAt ? { retired_at: e.retiredAt } : {}),
    ...(e.destroyedAt ? { destroyed_at: e.destroyedAt } : {}),
  };
}

/** The latest global counts and the latest counts of the operator; nulls where none exist. */
export function wireCensus(global: Census | null, operator: Census | null): WireCensus {
  return {
    taken_at: global?.taken_at ?? operator?.taken_at ?? null,
    global: global?.global ?? null,
    operator: operator?.operator ?? null,
    operator_taken_at: operator?.taken_at ?? null,
  };
}

function freshCensus(census: Census) {
  return {
    taken_at: census.taken_at,
    finished_at: census.finished_at,
    scope: census.scope,
    global: census.global ?? null,
    operator: census.operator ?? null,
  };
}

/** 502 `chain_unrecorded`: the keystore changed, the chain record is pending. */
function unrecorded(
  c: Context,
  what: string,
  fields: Record<string, unknown>,
  chain: Exclude<ChainOutcome, { status: "recorded" }>,
): Response {
  const detail = chain.status === "failed"
    ? { reason: "recorder_failed", chain_error: chain.error }
    : chain.status === "mismatch"
    ? { reason: "epoch_mismatch", chain_epoch: chain.chainEpoch, tx_hash: chain.txHash }
    : { reason: "no_recorder", chain_error: chain.reason };
  return c.json({
    error: "chain_unrecorded",
    message: `${what}; the change stands and is kept as a pending chain record — do not retry, ` +
      "run `deno task signer reconcile` once the chain is reachable",
    ...fields,
    pending: true,
    ...detail,
  }, 502);
}
