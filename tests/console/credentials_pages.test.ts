/**
 * The credentials pages in process: signed-out and agent visitors are sent to /login, strict
 * headers and no inline code, server-rendered rows and forms before any script, a write-only
 * secret field without a value, paging links, a revoked agent without write actions, and
 * another operator's label answering 404 without naming anything of it.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import type { TestService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";
import { CONTENT_SECURITY_POLICY } from "../../routes/console.tsx";
import { PAGE_SIZE } from "../../routes/pages/credentials.tsx";

const page = (s: TestService, path: string, token?: string) =>
  s.request(`${PUBLIC_URL}${path}`, {
    headers: token ? { cookie: `agentkeys_session=${token}` } : {},
  });

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const botDevice = newAccount();
  const bot = s.identity.register(operator.address, "bot", botDevice.address);
  s.identity.setScope(bot.operatorOmni, bot.actorOmni, ["openai"]);
  const token = await s.loginOperator(operator);
  const store = async (actor: string, service: string, value: string) => {
    const grant = { operator_omni: bot.operatorOmni, actor_omni: actor, service };
    const cap = await s.call("POST", "/v1/cap/cred-store", token, grant);
    const r = await s.call("POST", "/v1/cred/store", cap.body.cap as string, {
      plaintext_b64: b64(value),
    });
    assertEquals(r.status, 200, JSON.stringify(r.body));
  };
  return { s, operator, bot, botDevice, token, store };
}

Deno.test("credentials pages: signed out or an agent session goes to /login; strict headers", async () => {
  const { s, botDevice } = await setup();
  await using _ = s;
  const agentToken = await s.loginDevice(botDevice);
  for (const path of ["/credentials", "/agents/bot/credentials"]) {
    for (const token of [undefined, "not-a-jwt", agentToken]) {
      const res = await page(s, path, token);
      assertEquals([res.status, res.headers.get("location")], [303, "/login"], path);
      assertEquals(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
    }
  }
});

Deno.test("credentials pages: rows and forms server-rendered, the secret field write-only, no inline code, no plaintext", async () => {
  const { s, bot, token, store } = await setup();
  await using _ = s;
  await store(bot.operatorOmni, "stripe", "sk_live_page_secret");
  await store(bot.actorOmni, "openai", "sk-agent-page-secret");
  const own = await page(s, "/credentials?replace=stripe", token);
  assertEquals(own.status, 200);
  assertEquals(own.headers.get("cache-control"), "no-store");
  const html = await own.text();
  assertMatch(html, /<th scope="row">stripe<\/th><td class="num">1<\/td><td class="num">19 bytes/);
  assertMatch(html, /data-island="StoreCredential"/);
  assertMatch(html, /data-island="DeleteCredential"/);
  assertMatch(html, /<a href="\/credentials" aria-current="page">Credentials<\/a>/);
  const secret = /<input[^>]*type="password"[^>]*>/.exec(html)?.[0] ?? "";
  assertMatch(secret, /autocomplete="off"/);
  assert(!/\svalue=/.test(secret), `no value on the secret field: ${secret}`);
  assertMatch(html, /id="store-0-service"[^>]*value="stripe"/, "Replace fills the service");
  assert(!html.includes("openai"), "the agent's credentials are on the agent's page");
  assertEquals(/<script\b[^>]*>[^<]+<\/script>/.exec(html), null, "no inline script");
  assertEquals(/\son[a-z]+=/i.exec(html), null, "no inline handler");
  assertEquals(/\sstyle=/i.exec(html), null, "no inline style");
  // Scope names the service has not learnt are hashes, which the form does not suggest.
  let agentHtml = await (await page(s, "/agents/bot/credentials", token)).text();
  assert(!agentHtml.includes("<datalist"), "no hash suggested");
  await s.call("POST", "/v1/services/names", token, { services: ["openai"] });
  agentHtml = await (await page(s, "/agents/bot/credentials", token)).text();
  assertMatch(agentHtml, /<th scope="row">openai<\/th>/);
  assertMatch(agentHtml, /<option value="openai">/, "the scope is suggested");
  for (const h of [html, agentHtml]) {
    assert(!h.includes("page_secret") && !h.includes("page-secret"), "no plaintext");
    assert(!h.includes(b64("sk_live_page_secret")), "no plaintext in base64");
  }
  // Notices name the service only when it is a valid name (no markup from the query).
  const noticed = await (await page(s, "/credentials?stored=stripe", token)).text();
  assertMatch(noticed, /role="status">Stored stripe\.</);
  const bogus = await (await page(s, "/credentials?stored=%3Cb%3Ex", token)).text();
  assert(!bogus.includes('role="status"'), "an invalid name shows no notice");
});

Deno.test("credentials pages: paging links; a revoked agent listed without write actions; another operator's label is 404", async () => {
  const { s, bot, token, store } = await setup();
  await using _ = s;
  const names = Array.from(
    { length: PAGE_SIZE + 2 },
    (_, i) => `svc-${String(i).padStart(3, "0")}`,
  );
  for (const name of names) await store(bot.operatorOmni, name, "v");
  const first = await (await page(s, "/credentials", token)).text();
  assertEquals([...first.matchAll(/<th scope="row">/g)].length, PAGE_SIZE);
  const last = names[PAGE_SIZE - 1];
  assertMatch(first, new RegExp(`href="/credentials\\?cursor=${last}">Next page`));
  const second = await (await page(s, `/credentials?cursor=${last}`, token)).text();
  assertEquals(
    [...second.matchAll(/<th scope="row">([^<]+)</g)].map((m) => m[1]),
    names.slice(PAGE_SIZE),
  );
  assertMatch(second, /href="\/credentials">First page/);
  assert(!second.includes("Next page"));

  await store(bot.actorOmni, "openai", "v");
  s.identity.revoke(bot.deviceKeyHash);
  const revoked = await (await page(s, "/agents/bot/credentials", token)).text();
  assertMatch(revoked, /<th scope="row">openai<\/th>/, "leftovers stay visible");
  assertMatch(revoked, /state revoked/);
  assert(!revoked.includes("StoreCredential") && !revoked.includes("DeleteCredential"));

  const stranger = newAccount();
  s.identity.register(stranger.address, "theirs", newAccount().address);
  const strangerToken = await s.loginOperator(stranger);
  for (const label of ["bot", "nobody"]) {
    const res = await page(s, `/agents/${label}/credentials`, strangerToken);
    assertEquals(res.status, 404, label);
    const html = await res.text();
    assert(!html.includes("openai") && !html.includes(bot.actorOmni), "nothing of the other");
  }
});
