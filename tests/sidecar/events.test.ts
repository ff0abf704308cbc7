/**
 * The sidecar's cache against the agent event stream: a revocation on the (fake) chain denies
 * the next request within a second (real broker, real route, real socket); a rotation or scope
 * change empties the cache; reconnects back off and empty the cache; the service down serves
 * from cache within the TTL, then 503 (injected clock).
 */

import { join } from "node:path";
import { AgentKeysClient, type AgentStreamEvent, ApiCallError } from "../../lib/client/mod.ts";
import { EventStreamIdle } from "../../lib/client/_agent_events.ts";
import { parsePolicy, startSidecar } from "../../lib/sidecar/mod.ts";
import { CredentialCache } from "../../lib/sidecar/_cache.ts";
import { type CredentialSource, ServiceCredentials } from "../../lib/sidecar/_credentials.ts";
import { type AgentEventSource, CacheInvalidator } from "../../lib/sidecar/_events.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";
import { tempDir } from "../support/tmp.ts";
import { call, DENO, fakeUpstream } from "./_support.ts";

function policyFor(base: string) {
  return parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${DENO}"
services = ["openai"]

[service.openai]
upstream = "${base}"
inject = "bearer"
`);
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - started;
}

Deno.test("revocation on chain: the next request through the sidecar is denied within a second", async () => {
  await using s = await testService();
  await using upstream = fakeUpstream();
  await using dir = await tempDir();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]);
  const grant = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    service: "openai",
  };
  const op = await s.loginOperator(operator);
  const store = await s.call("POST", "/v1/cap/cred-store", op, grant);
  await s.call("POST", "/v1/cred/store", store.body.cap as string, { plaintext_b64: b64("sk-1") });

  const credentials = new ServiceCredentials(
    PUBLIC_URL,
    device,
    async (input, init) => await s.app.fetch(new Request(input, init)),
  );
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  await using sidecar = await startSidecar({
    socketPath,
    policy: () => policyFor(upstream.base),
    credentials,
    audit: () => {},
  });
  const invalidator = new CacheInvalidator(credentials, sidecar.cache, { minDelayMs: 20 });
  invalidator.start();
  try {
    await until(() => invalidator.connected, 2000);
    assertEquals((await call({ socketPath }, "GET", "/openai/v1/models")).status, 200);
    assertEquals(upstream.seen.at(-1)?.authorization, "Bearer sk-1");
    assertEquals(sidecar.cache.size, 1);

    s.identity.revoke(agent.deviceKeyHash);
    const started = performance.now();
    await until(() => sidecar.cache.size === 0, 1000);
    const denied = await call({ socketPath }, "GET", "/openai/v1/models");
    const elapsed = performance.now() - started;
    assertEquals(denied.status, 502);
    assertEquals(JSON.parse(denied.body).error, "credential_refused");
    assert(JSON.parse(denied.body).message.includes("device_revoked"), denied.body);
    assert(elapsed < 1000, `denied after ${elapsed} ms`);
    assertEquals(upstream.seen.length, 1, "nothing reached upstream after the revocation");
  } finally {
    await invalidator.close();
  }
});

/** A stream the test drives: each `events()` call is one connection. */
class ScriptedSource implements AgentEventSource {
  connects = 0;
  failNext = 0;
  #push?: (e: AgentStreamEvent | null) => void;
  async *events(signal: AbortSignal): AsyncGenerator<AgentStreamEvent> {
    this.connects++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new ApiCallError(0, "unreachable", "down");
    }
    const queue: (AgentStreamEvent | null)[] = [{ event: "ready", data: {} }];
    let wake: (() => void) | undefined;
    this.#push = (e) => {
      queue.push(e);
      wake?.();
    };
    signal.addEventListener("abort", () => this.#push!(null));
    for (;;) {
      const e = queue.shift();
      if (e === null) return;
      if (e) {
        yield e;
        continue;
      }
      await new Promise<void>((r) => wake = r);
    }
  }
  send(e: AgentStreamEvent | null): void {
    this.#push?.(e);
  }
}

class CountingCredentials implements CredentialSource {
  calls = 0;
  down = false;
  fetch(): Promise<string> {
    this.calls++;
    if (this.down) return Promise.reject(new ApiCallError(0, "unreachable", "cannot reach"));
    return Promise.resolve(`sk-${this.calls}`);
  }
}

async function scripted(options: { now?: () => number } = {}) {
  const dir = await tempDir();
  const upstream = fakeUpstream();
  const credentials = new CountingCredentials();
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const cache = new CredentialCache(undefined, undefined, options.now);
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policyFor(upstream.base),
    credentials,
    audit: () => {},
    cache,
  });
  const source = new ScriptedSource();
  const invalidator = new CacheInvalidator(source, sidecar.cache, { minDelayMs: 10 });
  return {
    socketPath,
    upstream,
    credentials,
    sidecar,
    source,
    invalidator,
    get: () => call({ socketPath }, "GET", "/openai/x"),
    async [Symbol.asyncDispose]() {
      await invalidator.close();
      await sidecar.close();
      await upstream[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
}

for (
  const event of ["epoch_rotated", "epoch_destroyed", "scope_set", "scope_revoked"] as const
) {
  Deno.test(`${event} on the stream empties the cache: the next request fetches again`, async () => {
    await using t = await scripted();
    t.invalidator.start();
    await until(() => t.invalidator.connected, 1000);
    await t.get();
    await t.get();
    assertEquals(t.credentials.calls, 1, "the second request was a cache hit");
    t.source.send({ event, data: {} });
    await until(() => t.sidecar.cache.size === 0, 1000);
    await t.get();
    assertEquals(t.credentials.calls, 2);
    assertEquals(t.upstream.seen.map((s) => s.authorization), [
      "Bearer sk-1",
      "Bearer sk-1",
      "Bearer sk-2",
    ]);
  });
}

Deno.test("a dropped stream is reopened with backoff, and each (re)connect empties the cache", async () => {
  await using t = await scripted();
  t.invalidator.start();
  await until(() => t.invalidator.connected, 1000);
  await t.get();
  assertEquals(t.sidecar.cache.size, 1);
  t.source.failNext = 3;
  t.source.send(null); // the server closes the stream
  await until(() => t.source.connects === 5 && t.invalidator.connected, 2000);
  assertEquals(t.sidecar.cache.size, 0, "a gap may hide a revocation: the cache is emptied");
});

Deno.test("service down: cached credentials are served until the TTL, then 503 with a clear error", async () => {
  let clock = 1_000_000;
  await using t = await scripted({ now: () => clock });
  assertEquals((await t.get()).status, 200);
  t.credentials.down = true;
  clock += 4 * 60_000;
  assertEquals((await t.get()).status, 200, "within the TTL: served from cache");
  clock += 60_000 + 1;
  const r = await t.get();
  assertEquals(r.status, 503);
  assertEquals(JSON.parse(r.body).error, "service_unavailable");
  assertEquals(t.credentials.calls, 2);
});

Deno.test("a fetch that started before the cache was emptied does not put its secret back", () => {
  const cache = new CredentialCache();
  const generation = cache.generation;
  cache.clear();
  cache.set("openai", "stale", generation);
  assertEquals(cache.get("openai"), undefined);
  cache.set("openai", "fresh", cache.generation);
  assertEquals(cache.get("openai"), "fresh");
});

Deno.test("the agent event reader yields heartbeats and gives up on a silent connection (EventStreamIdle)", async () => {
  const enc = new TextEncoder();
  let cancelled = false;
  const api = new AgentKeysClient("http://agentkeys.test", "agent-jwt", {
    fetch: (_input, init) => {
      assertEquals(new Headers(init?.headers).get("authorization"), "Bearer agent-jwt");
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(enc.encode('event: ready\ndata: {"actor_omni":"0xab"}\n\n: heartbeat\n\n'));
              c.enqueue(enc.encode("event: mystery\ndata: {}\n\nevent: epoch_rotated\ndata: {"));
              c.enqueue(enc.encode('"epoch":3,"block":"9"}\n\n'));
              // Then nothing: a connection that died without a FIN.
            },
            cancel() {
              cancelled = true;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      );
    },
  });
  const seen: string[] = [];
  let caught: unknown;
  try {
    for await (const e of api.agentEvents(100)) seen.push(`${e.event}:${JSON.stringify(e.data)}`);
  } catch (err) {
    caught = err;
  }
  assertEquals(seen, [
    'ready:{"actor_omni":"0xab"}',
    "heartbeat:{}",
    'epoch_rotated:{"epoch":3,"block":"9"}',
  ]);
  assert(caught instanceof EventStreamIdle, String(caught));
  assert(cancelled, "the dead connection was closed");
});

Deno.test("the agent event reader surfaces a refusal as ApiCallError", async () => {
  const api = new AgentKeysClient("http://agentkeys.test", "op-jwt", {
    fetch: () =>
      Promise.resolve(
        Response.json({ error: "agent_only", message: "agents only" }, { status: 403 }),
      ),
  });
  let caught: unknown;
  try {
    for await (const _ of api.agentEvents()) throw new Error("no event expected");
  } catch (err) {
    caught = err;
  }
  assert(caught instanceof ApiCallError && caught.code === "agent_only", String(caught));
});
