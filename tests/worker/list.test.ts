/**
 * `GET /v1/cred/list`: an operator lists its own and its agents' credentials (revoked agents
 * included), a page at a time, names and metadata only; every refusal path; and the listing
 * never reads a whole blob (one byte per item).
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import type { TestService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";
import { CredentialLister } from "../../lib/worker/_list.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { ReadCountingStore } from "../support/counting_store.ts";
import { omniToHex } from "../../lib/identity/mod.ts";

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const stranger = newAccount();
  const botDevice = newAccount();
  const bot = s.identity.register(operator.address, "bot", botDevice.address);
  const foreign = s.identity.register(stranger.address, "foreign", newAccount().address);
  s.identity.setScope(bot.operatorOmni, bot.actorOmni, ["openai", "github"]);
  s.identity.setScope(foreign.operatorOmni, foreign.actorOmni, ["openai"]);
  const opToken = await s.loginOperator(operator);
  const strangerToken = await s.loginOperator(stranger);
  const agentToken = await s.loginDevice(botDevice);
  const store = async (
    token: string,
    operatorOmni: string,
    actor: string,
    service: string,
    value: string,
  ) => {
    const grant = { operator_omni: operatorOmni, actor_omni: actor, service };
    const cap = await s.call("POST", "/v1/cap/cred-store", token, grant);
    assertEquals(cap.status, 200, JSON.stringify(cap.body));
    const r = await s.call("POST", "/v1/cred/store", cap.body.cap as string, {
      plaintext_b64: b64(value),
    });
    assertEquals(r.status, 200, JSON.stringify(r.body));
  };
  return { s, operator, bot, foreign, opToken, strangerToken, agentToken, store };
}

const list = (s: TestService, token: string | undefined, query: Record<string, string>) =>
  s.call("GET", `/v1/cred/list?${new URLSearchParams(query)}`, token);

Deno.test("cred list: the operator's own and its agent's services with epoch, plaintext size and time; no plaintext", async () => {
  const { s, bot, operator, opToken, store } = await setup();
  await using _ = s;
  const before = Date.now();
  await store(opToken, bot.operatorOmni, bot.operatorOmni, "stripe", "sk_live_0123456789");
  await store(opToken, bot.operatorOmni, bot.actorOmni, "openai", "sk-openai-secret");
  await store(opToken, bot.operatorOmni, bot.actorOmni, "github", "ghp_x");
  const own = await list(s, opToken, { actor_omni: bot.operatorOmni });
  assertEquals(own.status, 200, JSON.stringify(own.body));
  const items = own.body.items as Record<string, unknown>[];
  assertEquals(items.map((i) => [i.service, i.epoch, i.size]), [["stripe", 1, 18]]);
  assertEquals(Object.keys(items[0]).sort(), ["epoch", "service", "size", "updated_at"]);
  const at = Date.parse(items[0].updated_at as string);
  assert(at >= before - 2000 && at <= Date.now() + 2000, `updated_at ${items[0].updated_at}`);
  assertEquals(own.body.next_cursor, null);

  const agent = await list(s, opToken, { actor_omni: bot.actorOmni });
  assertEquals(
    (agent.body.items as Record<string, unknown>[]).map((i) => [i.service, i.epoch, i.size]),
    [["github", 1, 5], ["openai", 1, 16]],
    "service-name order",
  );
  assert(!JSON.stringify(agent.body).includes("sk-openai"), "no plaintext");
  assert(!JSON.stringify(agent.body).includes(b64("sk-openai-secret")), "no plaintext, base64");

  // After a rotation a new store is under epoch 2, the old one stays 1 until re-encrypted.
  await s.keystore.rotate();
  await store(opToken, bot.operatorOmni, bot.actorOmni, "openai", "sk-openai-rotated");
  const rotated = await list(s, opToken, { actor_omni: bot.actorOmni });
  assertEquals(
    (rotated.body.items as Record<string, unknown>[]).map((i) => [i.service, i.epoch]),
    [["github", 1], ["openai", 2]],
  );
  // An agent with nothing stored lists nothing (not 404).
  const idle = s.identity.register(operator.address, "idle", newAccount().address);
  const none = await list(s, opToken, { actor_omni: idle.actorOmni });
  assertEquals([none.status, none.body], [200, { items: [], next_cursor: null }]);
});

Deno.test("cred list refusals: no session 401, agent session 403, malformed omni/cursor/limit 400, another operator's actor 403", async () => {
  const { s, bot, foreign, opToken, strangerToken, agentToken, store } = await setup();
  await using _ = s;
  await store(opToken, bot.operatorOmni, bot.actorOmni, "openai", "sk-1");
  const expect = async (
    r: Promise<{ status: number; body: Record<string, unknown> }>,
    status: number,
    error: string,
  ) => {
    const { status: got, body } = await r;
    assertEquals([got, body.error], [status, error], JSON.stringify(body));
    assertEquals(typeof body.message, "string");
    assertEquals(body.items, undefined, "a refusal lists nothing");
  };
  await expect(list(s, undefined, { actor_omni: bot.actorOmni }), 401, "no_session");
  await expect(list(s, agentToken, { actor_omni: bot.actorOmni }), 403, "operator_only");
  await expect(list(s, opToken, {}), 400, "bad_request");
  await expect(list(s, opToken, { actor_omni: "0x12" }), 400, "bad_request");
  await expect(list(s, opToken, { actor_omni: bot.actorOmni.toUpperCase() }), 400, "bad_request");
  await expect(list(s, opToken, { actor_omni: omniToHex(bot.actorOmni) }), 400, "bad_request");
  await expect(list(s, opToken, { actor_omni: bot.actorOmni, cursor: "../x" }), 400, "bad_request");
  await expect(list(s, opToken, { actor_omni: bot.actorOmni, cursor: "" }), 400, "bad_request");
  for (const limit of ["0", "501", "-1", "1.5", "ten", ""]) {
    await expect(list(s, opToken, { actor_omni: bot.actorOmni, limit }), 400, "bad_request");
  }
  await expect(list(s, strangerToken, { actor_omni: bot.actorOmni }), 403, "other_operator");
  await expect(list(s, strangerToken, { actor_omni: bot.operatorOmni }), 403, "other_operator");
  await expect(list(s, opToken, { actor_omni: foreign.actorOmni }), 403, "other_operator");
  await expect(list(s, opToken, { actor_omni: foreign.operatorOmni }), 403, "other_operator");
  // A logged-out session is refused too.
  assertEquals((await s.call("POST", "/v1/auth/logout", opToken)).status, 200);
  await expect(list(s, opToken, { actor_omni: bot.actorOmni }), 401, "session_invalid");
});

Deno.test("cred list: a revoked agent's leftovers stay listed for its operator; the session cookie works too", async () => {
  const { s, bot, opToken, store } = await setup();
  await using _ = s;
  await store(opToken, bot.operatorOmni, bot.actorOmni, "openai", "sk-1");
  s.identity.revoke(bot.deviceKeyHash);
  const r = await list(s, opToken, { actor_omni: bot.actorOmni });
  assertEquals(r.status, 200, JSON.stringify(r.body));
  assertEquals((r.body.items as { service: string }[]).map((i) => i.service), ["openai"]);
  const viaCookie = await s.request(`/v1/cred/list?actor_omni=${bot.actorOmni}`, {
    headers: { cookie: `agentkeys_session=${opToken}`, "sec-fetch-site": "same-origin" },
  });
  assertEquals(viaCookie.status, 200);
  assertEquals(((await viaCookie.json()).items as unknown[]).length, 1);
});

Deno.test("cred list pages with cursor and limit: every service once, in order, the last page's next_cursor null", async () => {
  const { s, bot, opToken, store } = await setup();
  await using _ = s;
  const services = ["a1", "b2", "c3", "d4", "e5"];
  for (const svc of services) await store(opToken, bot.operatorOmni, bot.operatorOmni, svc, svc);
  // Objects outside the layout under the prefix are not credentials, and do not fill a page.
  const prefix = `bots/${omniToHex(bot.operatorOmni)}/credentials/`;
  await s.store.put(`${prefix}b2.enc.bak`, new Uint8Array(40));
  await s.store.put(`${prefix}nested/x.enc`, new Uint8Array(40));
  const seen: string[] = [];
  const cursors: (string | null)[] = [];
  let cursor: string | undefined;
  do {
    const query: Record<string, string> = { actor_omni: bot.operatorOmni, limit: "2" };
    if (cursor) query.cursor = cursor;
    const r = await list(s, opToken, query);
    assertEquals(r.status, 200, JSON.stringify(r.body));
    const items = r.body.items as { service: string }[];
    assert(items.length <= 2);
    seen.push(...items.map((i) => i.service));
    cursors.push(r.body.next_cursor as string | null);
    cursor = (r.body.next_cursor as string | null) ?? undefined;
  } while (cursor !== undefined);
  assertEquals(seen, services);
  assertEquals(cursors, ["b2", "d4", null]);
  // A page that ends exactly at the last item says so (no empty page after it).
  const exact = await list(s, opToken, { actor_omni: bot.operatorOmni, limit: "5" });
  assertEquals([(exact.body.items as unknown[]).length, exact.body.next_cursor], [5, null]);
  // A cursor whose service was deleted since still resumes after it.
  const after = await list(s, opToken, { actor_omni: bot.operatorOmni, cursor: "c", limit: "1" });
  assertEquals(
    [(after.body.items as { service: string }[]).map((i) => i.service), after.body.next_cursor],
    [["c3"], "c3"],
  );
});

Deno.test("cred list reads one byte per blob: no whole-object get, epoch from byte 0, size from the listing", async () => {
  const { s, bot, opToken, store } = await setup();
  await using _ = s;
  const big = "x".repeat(20_000);
  for (const svc of ["one", "two", "three"]) {
    await store(opToken, bot.operatorOmni, bot.operatorOmni, svc, big);
  }
  const counting = new ReadCountingStore(s.store);
  const lister = new CredentialLister({ store: counting, identity: s.identity, keys: s.keystore });
  const page = await lister.list(bot.operatorOmni, bot.operatorOmni);
  assertEquals(page.items.map((i) => [i.service, i.epoch, i.size]), [
    ["one", 1, 20_000],
    ["three", 1, 20_000],
    ["two", 1, 20_000],
  ]);
  assertEquals(counting.gets, 0, "no whole-object get");
  assertEquals(counting.ranges, 3);
  assertEquals(counting.bytes, 3, "one byte read per blob");
  for (const item of page.items) assertMatch(item.updated_at, /^\d{4}-\d\d-\d\dT/);
});

Deno.test("cred list: a blob under a destroyed epoch or too short to be an envelope lists with epoch null", async () => {
  const { s, bot, opToken, store } = await setup();
  await using _ = s;
  await store(opToken, bot.operatorOmni, bot.operatorOmni, "old", "v");
  await s.keystore.rotate();
  await s.keystore.destroy(1);
  await store(opToken, bot.operatorOmni, bot.operatorOmni, "new", "v");
  await s.store.put(`bots/${omniToHex(bot.operatorOmni)}/credentials/stub.enc`, new Uint8Array(3));
  const r = await list(s, opToken, { actor_omni: bot.operatorOmni });
  assertEquals(
    (r.body.items as Record<string, unknown>[]).map((i) => [i.service, i.epoch, i.size]),
    [["new", 2, 1], ["old", null, 1], ["stub", null, 0]],
  );
});

Deno.test("cred list: a store failure is the store's error (503 store_unavailable on the wire), no partial page", async () => {
  const { s, bot, opToken, store } = await setup();
  await using _ = s;
  await store(opToken, bot.operatorOmni, bot.operatorOmni, "openai", "v");
  for (const op of ["list", "getRange"] as const) {
    const faulty = new FaultyStore(s.store, {
      fail: (o) => o === op ? new StoreUnavailable("/secret/path is gone") : undefined,
    });
    const lister = new CredentialLister({ store: faulty, identity: s.identity, keys: s.keystore });
    await assertRejects(() => lister.list(bot.operatorOmni, bot.operatorOmni), StoreUnavailable);
  }
});
