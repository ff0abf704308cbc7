/**
 * `GET /v1/agents/events`: refusals (no session, operator session, revoked device), delivery of
 * the events that concern the agent (and nothing else), heartbeats, and the stream's end on
 * revocation, logout and expiry.
 */

import { Hono } from "hono";
import type { IdentityEventFeed } from "../../lib/broker/mod.ts";
import type { IdentityEvent } from "../../lib/identity/mod.ts";
import { SseParser } from "../../lib/client/_sse.ts";
import { agentEventRoutes } from "../../routes/agent_events.ts";
import { errorResponse } from "../../routes/errors.ts";
import type { SessionEnv } from "../../routes/session.ts";
import { assertEquals } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";

/** A feed the test pushes batches into, as the chain reader would. */
class FakeFeed implements IdentityEventFeed {
  readonly listeners = new Set<(events: IdentityEvent[]) => void>();
  onIdentityEvents(listener: (events: IdentityEvent[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(...events: IdentityEvent[]): void {
    for (const l of this.listeners) l(events);
  }
}

async function setup(heartbeatMs = 60_000) {
  const s = await testService();
  const feed = new FakeFeed();
  const app = new Hono<SessionEnv>();
  app.onError((err, c) => errorResponse(c, err));
  app.route("/", agentEventRoutes({ broker: s.broker, feed, heartbeatMs }));
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  const open = (token?: string) =>
    app.request("/v1/agents/events", {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  return { s, feed, operator, device, agent, open };
}

/** Reads events (and heartbeat comments, as `: heartbeat`) until the stream ends or `stop`. */
async function* events(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (value.includes(": heartbeat")) yield { event: "heartbeat", data: "" };
      for (const m of parser.push(value)) yield m;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

Deno.test("agents/events refuses no session, an operator session and a revoked device", async () => {
  const { s, operator, device, agent, open } = await setup();
  await using _s = s;
  const none = await open();
  assertEquals(none.status, 401);
  assertEquals((await none.json()).error, "no_session");
  const op = await open(await s.loginOperator(operator));
  assertEquals(op.status, 403);
  assertEquals((await op.json()).error, "agent_only");
  const token = await s.loginDevice(device);
  s.identity.revoke(agent.deviceKeyHash);
  const revoked = await open(token);
  assertEquals(revoked.status, 403);
  assertEquals((await revoked.json()).error, "device_revoked");
});

Deno.test("agents/events delivers the agent's own revocation and scope events and rotations, then ends on revocation", async () => {
  const { s, feed, device, agent, open } = await setup();
  await using _s = s;
  const other = s.identity.register(newAccount().address, "other", newAccount().address);
  const res = await open(await s.loginDevice(device));
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream");
  const it = events(res);
  const ready = (await it.next()).value!;
  assertEquals(ready.event, "ready");
  assertEquals(JSON.parse(ready.data).actor_omni, agent.actorOmni);
  const mine = { operatorOmni: agent.operatorOmni, actorOmni: agent.actorOmni };
  const theirs = { operatorOmni: other.operatorOmni, actorOmni: other.actorOmni };
  feed.emit(
    { type: "scope_set", ...theirs, block: 5n },
    { type: "agent_revoked", ...theirs, deviceKeyHash: other.deviceKeyHash, block: 5n },
    { type: "agent_registered", ...mine, deviceKeyHash: "0x" + "ab".repeat(32), block: 5n },
    { type: "scope_set", ...mine, block: 6n },
  );
  feed.emit({ type: "epoch_rotated", epoch: 2, block: 7n });
  feed.emit({ type: "scope_revoked", ...mine, block: 8n });
  feed.emit({ type: "agent_revoked", ...mine, deviceKeyHash: agent.deviceKeyHash, block: 9n });
  const seen = [];
  for await (const e of it) seen.push([e.event, JSON.parse(e.data || "{}")]);
  assertEquals(seen, [
    ["scope_set", { operator_omni: agent.operatorOmni, actor_omni: agent.actorOmni, block: "6" }],
    ["epoch_rotated", { epoch: 2, block: "7" }],
    [
      "scope_revoked",
      { operator_omni: agent.operatorOmni, actor_omni: agent.actorOmni, block: "8" },
    ],
    ["agent_revoked", {
      operator_omni: agent.operatorOmni,
      actor_omni: agent.actorOmni,
      device_key_hash: agent.deviceKeyHash,
      block: "9",
    }],
    ["end", { reason: "agent_revoked" }],
  ]);
  // The stream let go of the feed.
  assertEquals(feed.listeners.size, 0);
});

Deno.test("agents/events sends heartbeats and ends when the session is logged out", async () => {
  const { s, feed, device, open } = await setup(30);
  await using _s = s;
  const token = await s.loginDevice(device);
  const it = events(await open(token));
  assertEquals((await it.next()).value!.event, "ready");
  assertEquals((await it.next()).value!.event, "heartbeat");
  assertEquals((await s.call("POST", "/v1/auth/logout", token)).status, 200);
  const rest = [];
  for await (const e of it) rest.push(e.event === "end" ? JSON.parse(e.data).reason : e.event);
  assertEquals(rest.at(-1), "session_invalid");
  assertEquals(feed.listeners.size, 0);
});

Deno.test("agents/events ends when the device is revoked even if the feed never says so", async () => {
  const { s, device, agent, open } = await setup(30);
  await using _s = s;
  const it = events(await open(await s.loginDevice(device)));
  assertEquals((await it.next()).value!.event, "ready");
  s.identity.revoke(agent.deviceKeyHash);
  let last;
  for await (const e of it) last = e;
  assertEquals(last?.event, "end");
  assertEquals(JSON.parse(last!.data).reason, "device_revoked");
});

Deno.test("agents/events ends when the session expires", async () => {
  const { s, device, open } = await setup();
  await using _s = s;
  // Signed in on a clock 1.5 s short of 15 minutes behind: the session expires within 2 s.
  s.advance(-(15 * 60_000 - 1500));
  const late = await s.loginDevice(device);
  s.advance(15 * 60_000 - 1500);
  const res = await open(late);
  assertEquals(res.status, 200, await res.clone().text());
  const it = events(res);
  assertEquals((await it.next()).value!.event, "ready");
  let last;
  for await (const e of it) last = e;
  assertEquals(JSON.parse(last!.data).reason, "session_expired");
});
