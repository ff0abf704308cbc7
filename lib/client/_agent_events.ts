/**
 * The reader of `GET /v1/agents/events` (an agent session's stream of identity events): one
 * connection, no reconnect — the caller (the sidecar) decides when and with which session to
 * reopen, and must treat a gap as "anything may have changed".
 *
 * @module
 */

import { SseParser } from "./_sse.ts";

/** One event of the agent stream; `heartbeat` stands for the server's keep-alive comments. */
export interface AgentStreamEvent {
  event:
    | "ready"
    | "heartbeat"
    | "agent_revoked"
    | "scope_set"
    | "scope_revoked"
    | "epoch_rotated"
    | "epoch_destroyed"
    | "end";
  data: Record<string, unknown>;
}

const KNOWN: ReadonlySet<string> = new Set([
  "ready",
  "agent_revoked",
  "scope_set",
  "scope_revoked",
  "epoch_rotated",
  "epoch_destroyed",
  "end",
]);

/** Nothing (not even a heartbeat) arrived for `idleMs`: the connection is presumed dead. */
export class EventStreamIdle extends Error {
  readonly code = "event_stream_idle";
  override name = "EventStreamIdle";
}

/**
 * Reads an opened `text/event-stream` response; yields events until the stream ends (after
 * `end`, or when the server closes). Throws {@linkcode EventStreamIdle} after `idleMs` of
 * silence; leaving the loop closes the stream.
 */
export async function* readAgentEvents(
  res: Response,
  idleMs: number,
): AsyncGenerator<AgentStreamEvent> {
  if (!res.body) throw new Error("the event stream has no body");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new EventStreamIdle(`no event or heartbeat for ${idleMs} ms`)),
          idleMs,
        );
      });
      const { value, done } = await Promise.race([reader.read(), idle]);
      clearTimeout(timer);
      if (done) return;
      for (const m of parser.push(value)) {
        if (!KNOWN.has(m.event)) continue;
        let data: Record<string, unknown> = {};
        try {
          data = m.data ? JSON.parse(m.data) : {};
        } catch {
          // A malformed event still signals a change; its details are not needed to act on it.
        }
        yield { event: m.event as AgentStreamEvent["event"], data };
        if (m.event === "end") return;
      }
      // Comments carry no event; the parser drops them, but they prove the line is alive.
      if (/(^|\n): ?heartbeat/.test(value)) yield { event: "heartbeat", data: {} };
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}
