/**
 * `GET /v1/agents/events` (agent session) → `text/event-stream`: the chain's identity events
 * that concern the calling agent and every epoch rotation (lib/broker `subscribeAgentEvents`).
 *
 * The stream opens with `ready` (`{actor_omni, expires_at}`), sends a `: heartbeat` comment
 * every `heartbeatMs`, re-checks the session at each heartbeat, and ends with `end`
 * (`{reason}`) when the session expires, is logged out, or its device is revoked. There is no
 * replay: a client that reconnects must treat what it cached as stale.
 *
 * @module
 */

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import {
  type AgentEvent,
  type Broker,
  type IdentityEventFeed,
  subscribeAgentEvents,
} from "../lib/broker/mod.ts";
import { ApiError } from "./errors.ts";
import type { RouteGuards } from "./guards.ts";
import { requireSession, type SessionEnv } from "./session.ts";

export interface AgentEventRouteDeps {
  broker: Broker;
  feed: IdentityEventFeed;
  /** Comment lines keep idle streams open and let clients notice a dead one. Default 15 s. */
  heartbeatMs?: number;
  /** Caps the event streams open per session. */
  guards?: RouteGuards;
}

export function agentEventRoutes(deps: AgentEventRouteDeps): Hono<SessionEnv> {
  const { broker, feed } = deps;
  const app = new Hono<SessionEnv>();
  app.get("/v1/agents/events", requireSession(broker), (c) => {
    const session = c.get("session");
    if (session.kind !== "agent") {
      throw new ApiError(403, "agent_only", "this stream is for agent (device) sessions");
    }
    const token = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1];
    const heartbeatMs = deps.heartbeatMs ?? 15_000;
    const release = deps.guards?.stream(session);
    return streamSSE(c, async (stream) => {
      const queue: AgentEvent[] = [];
      let wake: (() => void) | undefined;
      let ended: string | undefined;
      const end = (reason: string) => {
        ended ??= reason;
        wake?.();
      };
      const unsubscribe = subscribeAgentEvents(feed, session, (e) => {
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => end("client_gone"));
      const untilExpiry = Math.max(0, session.expiresAt * 1000 - Date.now());
      const expiry = setTimeout(() => end("session_expired"), untilExpiry);
      const heartbeat = setInterval(async () => {
        try {
          // Logout and device revocation also end the stream if the feed missed them.
          await broker.authenticate(token);
          await stream.write(": heartbeat\n\n");
        } catch (err) {
          end((err as { code?: string }).code ?? "session_invalid");
        }
      }, heartbeatMs);
      try {
        await stream.writeSSE({
          event: "ready",
          data: JSON.stringify({
            actor_omni: session.actorOmni,
            expires_at: new Date(session.expiresAt * 1000).toISOString(),
          }),
        });
        while (!stream.aborted) {
          const e = queue.shift();
          if (e) {
            await stream.writeSSE({ event: e.event, data: JSON.stringify(e.data) });
            if (e.final) end("agent_revoked");
            continue;
          }
          if (ended !== undefined) break;
          await new Promise<void>((resolve) => wake = resolve);
          wake = undefined;
        }
        if (!stream.aborted) {
          await stream.writeSSE({ event: "end", data: JSON.stringify({ reason: ended }) });
        }
      } catch (err) {
        console.warn(`agent event stream failed: ${err}`);
      } finally {
        unsubscribe();
        clearTimeout(expiry);
        clearInterval(heartbeat);
        release?.();
      }
    });
  });
  return app;
}
