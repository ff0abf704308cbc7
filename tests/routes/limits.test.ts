/**
 * Limits before work (review issue 7): rate limits on logins, the dev faucet and cap mints (429
 * `rate_limited` with `Retry-After`), the bound on pending login challenges, the worker checking
 * the cap before it reads a body, and the cap on event streams per session.
 */

import { assert, assertEquals } from "../support/assert.ts";
import type { OpenChain } from "../../lib/chain/mod.ts";
import { defaultGuards } from "../../lib/config/mod.ts";
import { RateLimiter } from "../../lib/ratelimit/mod.ts";
import type { JobEvent } from "../../lib/state/mod.ts";
import { createApp } from "../../routes/app.ts";
import { newAccount, type TestService, testService } from "../support/broker_harness.ts";
import { testCapKey } from "../support/caps.ts";
import { b64, LIMITS, testVault } from "../support/harness.ts";
import { fakeRecorder, openEvents } from "./epochs_support.ts";

/** What `Deno.serve` hands `app.fetch` as its second argument: the TCP peer. */
const peer = (hostname: string) => ({ remoteAddr: { hostname, port: 40_000, transport: "tcp" } });

async function postFrom(
  app: { request: TestService["app"]["request"] },
  hostname: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  }, peer(hostname));
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get("retry-after") };
}

Deno.test("login: 429 rate_limited with Retry-After per client address, starts and verifies together", async () => {
  await using s = await testService({ guards: { loginRate: { capacity: 2, periodMs: 60_000 } } });
  const operator = newAccount();
  const siwe = { address: operator.address, chain_id: 31337 };
  const a = await postFrom(s.app, "192.0.2.1", "/v1/auth/siwe/start", siwe);
  assertEquals(a.status, 200);
  const verify = await postFrom(s.app, "192.0.2.1", "/v1/auth/siwe/verify", {
    request_id: a.body.request_id,
    signature: await operator.signMessage({ message: a.body.message }),
  });
  assertEquals(verify.status, 200);
  // The budget is spent: a third request of either kind, from the same address, is refused.
  for (
    const [path, body] of [
      ["/v1/auth/siwe/start", siwe],
      ["/v1/auth/device/start", { device_address: newAccount().address }],
      ["/v1/auth/device/verify", { request_id: "0".repeat(32), signature: "0x00" }],
      ["/v1/auth/siwe/verify", { request_id: "0".repeat(32), signature: "0x00" }],
    ] as const
  ) {
    const r = await postFrom(s.app, "192.0.2.1", path, body);
    assertEquals([r.status, r.body.error, r.retryAfter], [429, "rate_limited", "30"], path);
    assertEquals(typeof r.body.message, "string");
  }
  // X-Forwarded-For is the client's to write: it does not buy a fresh budget.
  const forged = await postFrom(s.app, "192.0.2.1", "/v1/auth/siwe/start", siwe, {
    "x-forwarded-for": "198.51.100.9",
  });
  assertEquals(forged.status, 429);
  // Another client is not affected.
  assertEquals((await postFrom(s.app, "192.0.2.2", "/v1/auth/siwe/start", siwe)).status, 200);
  // One IPv6 host usually owns its /64: its addresses share one budget.
  assertEquals((await postFrom(s.app, "2001:db8:1:2::1", "/v1/auth/siwe/start", siwe)).status, 200);
  assertEquals(
    (await postFrom(s.app, "2001:db8:1:2::ff", "/v1/auth/siwe/start", siwe)).status,
    200,
  );
  const v6 = await postFrom(s.app, "2001:db8:1:2:0:0:0:7", "/v1/auth/siwe/start", siwe);
  assertEquals(v6.status, 429);
  assertEquals((await postFrom(s.app, "2001:db8:1:3::1", "/v1/auth/siwe/start", siwe)).status, 200);
  // One token is back after 30 s.
  s.advance(30_000);
  assertEquals((await postFrom(s.app, "192.0.2.1", "/v1/auth/siwe/start", siwe)).status, 200);
  assertEquals((await postFrom(s.app, "192.0.2.1", "/v1/auth/siwe/start", siwe)).status, 429);
});

Deno.test("login: the default budget lets a normal test flow through (in-process requests share one)", async () => {
  await using s = await testService();
  for (let i = 0; i < 10; i++) await s.loginOperator(newAccount());
  assertEquals(defaultGuards().loginRate, { capacity: 60, periodMs: 60_000 });
});

Deno.test("pending login challenges are bounded: past the bound the oldest is evicted", async () => {
  await using s = await testService({ guards: { maxPendingLogins: 3 } });
  const operator = newAccount();
  const start = async () =>
    (await s.call("POST", "/v1/auth/siwe/start", undefined, {
      address: operator.address,
      chain_id: 31337,
    })).body;
  const challenges = [];
  for (let i = 0; i < 4; i++) challenges.push(await start());
  const verify = async (c: Record<string, unknown>) =>
    await s.call("POST", "/v1/auth/siwe/verify", undefined, {
      request_id: c.request_id,
      signature: await operator.signMessage({ message: c.message as string }),
    });
  const oldest = await verify(challenges[0]);
  assertEquals([oldest.status, oldest.body.error], [401, "challenge_unknown"]);
  assertEquals((await verify(challenges[3])).status, 200, "the newest still signs in");

  // However many starts, at most the bound stays in KV (device starts count too).
  const device = newAccount();
  s.identity.register(operator.address, "bot", device.address);
  for (let i = 0; i < 30; i++) {
    await s.call("POST", "/v1/auth/device/start", undefined, { device_address: device.address });
    await start();
  }
  let stored = 0;
  for await (const entry of s.state.kv.list<{ used: boolean }>({ prefix: ["challenge"] })) {
    if (!entry.value.used) stored++;
  }
  assertEquals(stored, 3);
});

function fakeChain(funded: string[]): OpenChain {
  const client = {
    chainId: 31337,
    contracts: () => ({
      AgentRegistry: { address: "0x" + "01".repeat(20) },
      ScopeRegistry: { address: "0x" + "02".repeat(20) },
    }),
  };
  const faucet = (address: string) => {
    funded.push(address);
    return Promise.resolve({ balance: 10n ** 19n });
  };
  return { client, embedded: true, faucet, rpcUrl: "http://127.0.0.1:1" } as unknown as OpenChain;
}

Deno.test("dev faucet: 429 per client address and per funded address", async () => {
  await using v = await testVault();
  const funded: string[] = [];
  let now = 1_000_000;
  const app = createApp({
    worker: v.worker,
    chain: fakeChain(funded),
    limits: LIMITS,
    port: 80,
    guards: { ...defaultGuards(), faucetRate: { capacity: 2, periodMs: 60_000 } },
    now: () => now,
    health: {
      version: "test",
      roles: ["worker"],
      store: "fs",
      chainId: 31337,
      activeEpoch: () => 1,
    },
  });
  const x = "0x" + "aa".repeat(20);
  const y = "0x" + "bb".repeat(20);
  const z = "0x" + "cc".repeat(20);
  const fund = (from: string, address: string, headers?: Record<string, string>) =>
    postFrom(app, from, "/v1/dev/faucet", { address }, headers);
  assertEquals((await fund("192.0.2.1", x)).status, 200);
  assertEquals((await fund("192.0.2.1", y)).status, 200);
  const client = await fund("192.0.2.1", z);
  assertEquals([client.status, client.body.error, client.retryAfter], [429, "rate_limited", "30"]);
  assertEquals((await fund("192.0.2.1", z, { "x-forwarded-for": "203.0.113.5" })).status, 429);
  // A second client may fund x once more; a third may not: x itself has used its budget.
  assertEquals((await fund("192.0.2.2", x.toUpperCase().replace("0X", "0x"))).status, 200);
  const address = await fund("192.0.2.3", x);
  assertEquals([address.status, address.body.error, address.retryAfter], [
    429,
    "rate_limited",
    "30",
  ]);
  assertEquals(funded.length, 3, "refused requests sent nothing");
  now += 30_000;
  assertEquals((await fund("192.0.2.1", z)).status, 200);
});

Deno.test("cap mints: 429 per session with Retry-After; another session has its own budget", async () => {
  await using s = await testService({ guards: { mintRate: { capacity: 3, periodMs: 60_000 } } });
  const operator = newAccount();
  const first = await s.loginOperator(operator);
  const second = await s.loginOperator(operator);
  const omni = JSON.parse(atob(first.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
    .operator_omni as string;
  const grant = { operator_omni: omni, actor_omni: omni, service: "openai" };
  for (let i = 0; i < 3; i++) {
    assertEquals((await s.call("POST", "/v1/cap/cred-fetch", first, grant)).status, 200);
  }
  const refused = await s.call("POST", "/v1/cap/cred-store", first, grant);
  assertEquals([refused.status, refused.body.error], [429, "rate_limited"]);
  assertEquals(refused.headers.get("retry-after"), "20");
  assertEquals((await s.call("POST", "/v1/cap/cred-fetch", second, grant)).status, 200);
  s.advance(20_000);
  assertEquals((await s.call("POST", "/v1/cap/cred-fetch", first, grant)).status, 200);
});

Deno.test("cap mints: a benchmark-like burst of one session is not throttled by the default", async () => {
  // bench/cap.ts: one agent session, 32 clients, ~16 s of minting at up to a few thousand/s.
  let now = 0;
  const mint = new RateLimiter(defaultGuards().mintRate, { now: () => now });
  for (let i = 0; i < 16 * 4_000; i++) {
    now = i / 4; // 4,000 mints per second
    assert(mint.take("bench-session").ok, `mint ${i} at ${now} ms`);
  }
  // And through the app, concurrently, on the real clock.
  await using s = await testService();
  const operator = newAccount();
  const session = await s.loginOperator(operator);
  const omni = JSON.parse(atob(session.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
    .operator_omni as string;
  const grant = { operator_omni: omni, actor_omni: omni, service: "openai" };
  const statuses = new Set<number>();
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let i = 0; i < 20; i++) {
      statuses.add((await s.call("POST", "/v1/cap/cred-fetch", session, grant)).status);
    }
  }));
  assertEquals([...statuses], [200]);
});

Deno.test("worker: the cap is checked before the body is read (401, not 400 or 413)", async () => {
  await using v = await testVault();
  const stranger = await testCapKey(); // a key the worker does not trust
  const forged = await stranger.mint({});
  const huge = "A".repeat(LIMITS.memory * 2);
  for (const path of ["/v1/cred/store", "/v1/memory/put", "/v1/memory/get"]) {
    for (const body of [`{"plaintext_b64": "${huge}"}`, "{not json", `{"plaintext_b64": "%%%"}`]) {
      const r = await v.app.request(path, {
        method: "POST",
        headers: { authorization: `Bearer ${forged}`, "content-type": "application/json" },
        body,
      });
      assertEquals([r.status, (await r.json()).error], [401, "cap_invalid"], path);
    }
  }
  // A body that is never read: the stream is not pulled at all.
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(64 * 1024));
    },
  }, { highWaterMark: 0 });
  const r = await v.app.request(
    new Request("http://localhost/v1/cred/store", {
      method: "POST",
      headers: { authorization: `Bearer ${forged}`, "content-type": "application/json" },
      body: stream,
    }),
  );
  assertEquals([r.status, (await r.json()).error], [401, "cap_invalid"]);
  assertEquals(pulled, 0, "the body was not read");
  await stream.cancel();
  // A valid cap for another op is refused before the body too.
  const fetchCap = await v.cap({ op: "fetch" });
  const wrong = await v.post("/v1/cred/store", fetchCap, "{not json");
  assertEquals([wrong.status, wrong.body.error], [403, "wrong_op"]);
  // With a valid cap the body limits still apply.
  const big = await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: huge });
  assertEquals([big.status, big.body.error], [413, "too_large"]);
  const ok = await v.post("/v1/cred/store", await v.cap(), { plaintext_b64: b64("sk-1") });
  assertEquals(ok.status, 200);
});

Deno.test("event streams: at most N per session; the N+1th is 429; a closed one frees its slot", async () => {
  const operator = newAccount();
  await using s = await testService({
    admins: [operator.address.toLowerCase()],
    epochs: { recorder: fakeRecorder(1).recorder },
    guards: { maxStreamsPerSession: 2 },
  });
  const token = await s.loginOperator(operator);
  const other = await s.loginOperator(operator);
  assertEquals((await s.call("POST", "/v1/epochs/rotate", token)).status, 200);
  const omni = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
    .operator_omni as string;
  const job = await s.call("POST", "/v1/reencrypt/jobs", token, {
    operator_omni: omni,
    old_epoch: 1,
    new_epoch: 2,
    dry_run: true,
  });
  assertEquals(job.status, 201);
  const path = `/v1/reencrypt/jobs/${job.body.job_id}/events`;
  // A job that never ends, so streams stay open until their client leaves.
  s.epochs!.runner.events = async function* (): AsyncGenerator<JobEvent> {
    yield { id: 1, event: "progress", data: { listed: 0, done: 0, rate_per_s: 0 } };
    await new Promise(() => {});
  };
  const open = (t: string) => openEvents(s, path, { authorization: `Bearer ${t}` });
  const a = await open(token);
  const b = await open(token);
  assert((await a.next()) !== null && (await b.next()) !== null);
  const third = await s.request(path, { headers: { authorization: `Bearer ${token}` } });
  assertEquals(third.status, 429);
  assertEquals((await third.json()).error, "too_many_streams");
  const otherSession = await open(other);
  assertEquals(otherSession.response.status, 200, "the cap is per session");
  await a.close();
  let again: Response | undefined;
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    again = await s.request(path, { headers: { authorization: `Bearer ${token}` } });
    if (again.status === 200) break;
    await again.body?.cancel();
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(again?.status, 200, "the closed stream's slot was freed");
  await again?.body?.cancel();
  await b.close();
  await otherSession.close();
});

Deno.test("login: all of loopback is one client (127.0.0.0/8, ::1, ::ffff:127.x), so a local user cannot multiply its budget", async () => {
  await using s = await testService({ guards: { loginRate: { capacity: 2, periodMs: 60_000 } } });
  const siwe = { address: newAccount().address, chain_id: 31337 };
  assertEquals((await postFrom(s.app, "127.0.0.1", "/v1/auth/siwe/start", siwe)).status, 200);
  assertEquals((await postFrom(s.app, "127.0.0.2", "/v1/auth/siwe/start", siwe)).status, 200);
  // The reviewer's flood came from 127.0.0.3, 127.0.0.4, …: each used to get a fresh budget.
  for (const peerAddress of ["127.0.0.3", "127.255.255.254", "::1", "::ffff:127.0.0.9"]) {
    const r = await postFrom(s.app, peerAddress, "/v1/auth/siwe/start", siwe);
    assertEquals([r.status, r.body.error], [429, "rate_limited"], peerAddress);
  }
  // Only loopback is merged: a LAN client and an IPv4-mapped one keep their own budgets.
  assertEquals((await postFrom(s.app, "192.0.2.7", "/v1/auth/siwe/start", siwe)).status, 200);
  assertEquals(
    (await postFrom(s.app, "::ffff:128.0.0.1", "/v1/auth/siwe/start", siwe)).status,
    200,
  );
});
