/**
 * What `GET /v1/agents/events` tells an agent: the chain's identity events that concern it (its
 * revocation, its scope set or revoked) and every epoch rotation or destruction, so the agent's
 * sidecar can drop cached credentials at once instead of waiting for their TTL.
 *
 * The feed is a narrow port that `ChainClient.onIdentityEvents` satisfies; tests pass a fake.
 *
 * @module
 */

import type { IdentityEvent, IdentityEventFeed } from "../identity/mod.ts";
import type { Session } from "./_sessions.ts";

export type { IdentityEvent, IdentityEventFeed };

/** One event as the agent's stream sends it (`event:` name and JSON `data:`). */
export interface AgentEvent {
  event: "agent_revoked" | "scope_set" | "scope_revoked" | "epoch_rotated" | "epoch_destroyed";
  data: Record<string, string | number>;
  /** This session's own device was revoked: the stream ends after this event. */
  final: boolean;
}

/**
 * The event as `session` (an agent's) should see it, or undefined when it concerns someone else.
 * Revocation and scope events match by operator and actor; block numbers go out as strings
 * (JSON has no bigint).
 */
export function agentEventFor(session: Session, e: IdentityEvent): AgentEvent | undefined {
  const block = e.block.toString();
  switch (e.type) {
    case "epoch_rotated":
    case "epoch_destroyed":
      return { event: e.type, data: { epoch: e.epoch, block }, final: false };
    case "agent_registered":
      // A new device changes nothing the agent has cached.
      return undefined;
    case "agent_revoked":
      if (!mine(session, e)) return undefined;
      return {
        event: e.type,
        data: {
          operator_omni: e.operatorOmni,
          actor_omni: e.actorOmni,
          device_key_hash: e.deviceKeyHash,
          block,
        },
        final: session.deviceKeyHash !== undefined &&
          e.deviceKeyHash.toLowerCase() === session.deviceKeyHash.toLowerCase(),
      };
    case "scope_set":
    case "scope_revoked":
      if (!mine(session, e)) return undefined;
      return {
        event: e.type,
        data: { operator_omni: e.operatorOmni, actor_omni: e.actorOmni, block },
        final: false,
      };
  }
}

function mine(session: Session, e: { operatorOmni: string; actorOmni: string }): boolean {
  return e.operatorOmni.toLowerCase() === session.operatorOmni.toLowerCase() &&
    e.actorOmni.toLowerCase() === session.actorOmni.toLowerCase();
}

/**
 * Subscribes `session` to `feed`: `deliver` gets the events that concern it, in order.
 * Returns unsubscribe.
 *
 * ```ts
 * const stop = subscribeAgentEvents(chain.client, session, (e) => queue.push(e));
 * ```
 */
export function subscribeAgentEvents(
  feed: IdentityEventFeed,
  session: Session,
  deliver: (event: AgentEvent) => void,
): () => void {
  return feed.onIdentityEvents((events) => {
    for (const e of events) {
      const out = agentEventFor(session, e);
      if (out) deliver(out);
    }
  });
}
