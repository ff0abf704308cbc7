/**
 * Session authentication of routes (routes/session.ts): the console's cookie changes state only
 * from the service's own origin (SameSite=Strict still sends it from other ports of the same
 * host and sibling subdomains), and caps and sessions never stand in for each other.
 */

import { assertEquals } from "../support/assert.ts";
import { SESSION_COOKIE } from "../../routes/session.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import { epochWorld } from "./epochs_support.ts";

Deno.test("cookie sessions: state changes from another origin of the same site are 403", async () => {
  await using w = await epochWorld();
  const cookie = `${SESSION_COOKIE}=${w.admin.token}`;
  const post = async (path: string, headers: Record<string, string>, body?: unknown) => {
    const res = await w.s.request(path, {
      method: "POST",
      headers: { cookie, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  // A page on another port of this host: a form post, with the browser's own headers.
  const sibling = { origin: "http://127.0.0.1:3000", "content-type": "text/plain" };
  const rotate = await post("/v1/epochs/rotate", sibling);
  assertEquals([rotate.status, rotate.body.error], [403, "cross_origin"]);
  const fetchMeta = await post("/v1/epochs/rotate", { "sec-fetch-site": "same-site" });
  assertEquals([fetchMeta.status, fetchMeta.body.error], [403, "cross_origin"]);
  const destroy = await post("/v1/epochs/1/destroy", sibling, { force: true });
  assertEquals([destroy.status, destroy.body.error], [403, "cross_origin"]);
  const logout = await post("/v1/auth/logout", { origin: "null" });
  assertEquals([logout.status, logout.body.error], [403, "cross_origin"]);
  assertEquals(w.s.keystore.activeEpoch, 1, "nothing rotated");
  assertEquals((await w.s.call("GET", "/v1/operators/me", w.admin.token)).status, 200);

  // The console itself (same origin) and non-browser clients keep working with the cookie.
  const own = await post("/v1/epochs/rotate", { origin: PUBLIC_URL });
  assertEquals([own.status, own.body.active], [200, 2]);
  const sameOrigin = await post("/v1/epochs/rotate", { "sec-fetch-site": "same-origin" });
  assertEquals([sameOrigin.status, sameOrigin.body.active], [200, 3]);
  const headless = await post("/v1/epochs/rotate", {});
  assertEquals([headless.status, headless.body.active], [200, 4]);
  // Reads stay open to the cookie from anywhere the browser sends it (they change nothing).
  const read = await w.s.request("/v1/epochs", { headers: { cookie, ...sibling } });
  assertEquals(read.status, 200);
  await read.body?.cancel();
  // A bearer token is never sent by a browser on its own: no origin check.
  const bearer = await w.s.request("/v1/epochs/rotate", {
    method: "POST",
    headers: { authorization: `Bearer ${w.admin.token}`, ...sibling },
  });
  assertEquals(bearer.status, 200);
  await bearer.body?.cancel();
});

Deno.test("a cap is not a session, a session is not a cap", async () => {
  await using w = await epochWorld();
  const minted = await w.s.call("POST", "/v1/cap/cred-fetch", w.operator.token, {
    operator_omni: w.operator.omni,
    actor_omni: w.operator.omni,
    service: "openai",
  });
  assertEquals(minted.status, 200);
  const cap = minted.body.cap as string;
  const asSession = await w.s.call("GET", "/v1/operators/me", cap);
  assertEquals([asSession.status, asSession.body.error], [401, "session_invalid"]);
  const asMint = await w.s.call("POST", "/v1/cap/cred-store", cap, {
    operator_omni: w.operator.omni,
    actor_omni: w.operator.omni,
    service: "openai",
  });
  assertEquals(asMint.status, 401);
  const asCookie = await w.s.request("/v1/operators/me", {
    headers: { cookie: `${SESSION_COOKIE}=${cap}` },
  });
  assertEquals(asCookie.status, 401);
  await asCookie.body?.cancel();
  for (const token of [w.operator.token, w.agent.token]) {
    const asCap = await w.s.call("POST", "/v1/cred/fetch", token, {});
    assertEquals([asCap.status, asCap.body.error], [401, "cap_invalid"]);
  }
});

Deno.test("an agent session stops working when its device is revoked or removed, on every route (403 device_revoked)", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]);
  const session = await s.loginDevice(device);
  // Routes that mint nothing: they used to accept the session until it expired (15 min).
  const me = () => s.call("GET", "/v1/operators/me", session);
  const names = () => s.call("POST", "/v1/services/names", session, { services: ["openai"] });
  assertEquals([(await me()).status, (await names()).status], [200, 200]);
  s.identity.revoke(agent.deviceKeyHash);
  for (const r of [await me(), await names()]) {
    assertEquals([r.status, r.body.error], [403, "device_revoked"]);
  }
  // A device gone from the registry (e.g. redeployed) is as good as revoked.
  const other = newAccount();
  const second = s.identity.register(operator.address, "bot-2", other.address);
  const secondSession = await s.loginDevice(other);
  assertEquals((await s.call("GET", "/v1/operators/me", secondSession)).status, 200);
  s.identity.devices.delete(second.deviceKeyHash);
  const gone = await s.call("GET", "/v1/operators/me", secondSession);
  assertEquals([gone.status, gone.body.error], [403, "device_revoked"]);
  // The operator's own session is not an agent's: it keeps working.
  const op = await s.loginOperator(operator);
  assertEquals((await s.call("GET", "/v1/operators/me", op)).status, 200);
});
