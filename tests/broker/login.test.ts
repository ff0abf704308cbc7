/** Operator (SIWE) and device login, sessions and their refusals, over the HTTP API. */

import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { ParsedMessage } from "@spruceid/siwe-parser";
import { createSiweMessage } from "viem/siwe";
import { exportJWK, SignJWT, UnsecuredJWT } from "jose";
import { LoginError } from "../../lib/broker/_errors.ts";
import { SESSION_TYP } from "../../lib/broker/_sessions.ts";
import { operatorOmniOf } from "../../lib/identity/mod.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";

Deno.test("SIWE: the message parses independently, the signature verifies, a session opens", async () => {
  await using s = await testService();
  const operator = newAccount();
  const start = await s.call("POST", "/v1/auth/siwe/start", undefined, {
    address: operator.address,
    chain_id: 31337,
  });
  assertEquals(start.status, 200);
  const message = start.body.message as string;
  // An independent EIP-4361 implementation reads what the broker wrote.
  const parsed = new ParsedMessage(message);
  assertEquals(parsed.domain, "127.0.0.1:8787");
  assertEquals(parsed.address, operator.address);
  assertEquals(parsed.uri, PUBLIC_URL);
  assertEquals(parsed.chainId, 31337);
  assertEquals(parsed.nonce, start.body.nonce);
  assertEquals(parsed.expirationTime, start.body.expires_at);
  const tenMinutes = Date.parse(parsed.expirationTime!) - Date.parse(parsed.issuedAt!);
  assertEquals(tenMinutes, 600_000);

  const signature = await operator.signMessage({ message });
  const verify = await s.call("POST", "/v1/auth/siwe/verify", undefined, {
    request_id: start.body.request_id,
    signature,
  });
  assertEquals(verify.status, 200);
  assertEquals(verify.body.address, operator.address.toLowerCase());
  assertEquals(verify.body.operator_omni, operatorOmniOf(operator.address));
  const cookie = verify.headers.get("set-cookie") ?? "";
  assert(
    cookie.includes("agentkeys_session=") && cookie.includes("HttpOnly") &&
      cookie.includes("SameSite=Strict"),
    cookie,
  );
  assert(!cookie.includes("Secure"), "not over plain http");

  const me = await s.call("GET", "/v1/operators/me", verify.body.session_jwt as string);
  // Signing in never makes anyone admin (tests/broker/admin.test.ts).
  assertEquals([me.status, me.body.operator_omni, me.body.is_admin], [
    200,
    verify.body.operator_omni,
    false,
  ]);
  const viaCookie = await s.app.request("/v1/operators/me", {
    headers: { cookie: cookie.split(";")[0] },
  });
  assertEquals(viaCookie.status, 200);
});

Deno.test("SIWE refusals: replay, expiry, wrong chain, wrong signer, unknown request", async () => {
  await using s = await testService();
  const operator = newAccount();
  const start = async () =>
    (await s.call("POST", "/v1/auth/siwe/start", undefined, {
      address: operator.address,
      chain_id: 31337,
    })).body;
  const verify = (body: unknown) => s.call("POST", "/v1/auth/siwe/verify", undefined, body);

  const a = await start();
  const sigA = await operator.signMessage({ message: a.message as string });
  assertEquals((await verify({ request_id: a.request_id, signature: sigA })).status, 200);
  const replay = await verify({ request_id: a.request_id, signature: sigA });
  assertEquals([replay.status, replay.body.error], [401, "challenge_used"]);

  const b = await start();
  s.advance(10 * 60 * 1000 + 1000);
  const late = await verify({
    request_id: b.request_id,
    signature: await operator.signMessage({ message: b.message as string }),
  });
  assertEquals([late.status, late.body.error], [401, "challenge_expired"]);

  const wrongChain = await s.call("POST", "/v1/auth/siwe/start", undefined, {
    address: operator.address,
    chain_id: 1,
  });
  assertEquals([wrongChain.status, wrongChain.body.error], [400, "wrong_chain"]);

  const c = await start();
  const forged = await newAccount().signMessage({ message: c.message as string });
  const bad = await verify({ request_id: c.request_id, signature: forged });
  assertEquals([bad.status, bad.body.error], [401, "signature_invalid"]);
  const again = await verify({
    request_id: c.request_id,
    signature: await operator.signMessage({ message: c.message as string }),
  });
  assertEquals(again.body.error, "challenge_used", "a failed attempt still burns the challenge");

  const unknown = await verify({ request_id: "0".repeat(32), signature: sigA });
  assertEquals([unknown.status, unknown.body.error], [401, "challenge_unknown"]);
  const malformed = await verify({ request_id: 5 });
  assertEquals([malformed.status, malformed.body.error], [400, "bad_request"]);
  const badAddress = await s.call("POST", "/v1/auth/siwe/start", undefined, {
    address: "0x12",
    chain_id: 31337,
  });
  assertEquals([badAddress.status, badAddress.body.error], [400, "bad_request"]);
});

Deno.test("SIWE messages for another domain, URI or chain, or past expiry, are refused", async () => {
  await using s = await testService();
  const address = newAccount().address;
  const base = {
    domain: "127.0.0.1:8787",
    address,
    uri: PUBLIC_URL,
    version: "1" as const,
    chainId: 31337,
    nonce: "abcdefgh12345678",
    issuedAt: new Date(),
    expirationTime: new Date(Date.now() + 60_000),
  };
  s.broker.siwe.checkMessage(createSiweMessage(base), address);
  const cases: [Partial<typeof base>, string][] = [
    [{ domain: "evil.example" }, "message_invalid"],
    [{ uri: "https://evil.example" }, "message_invalid"],
    [{ chainId: 1 }, "wrong_chain"],
    [
      { issuedAt: new Date(Date.now() - 120_000), expirationTime: new Date(Date.now() - 60_000) },
      "message_invalid",
    ],
  ];
  for (const [change, code] of cases) {
    const err = assertThrows(
      () => s.broker.siwe.checkMessage(createSiweMessage({ ...base, ...change }), address),
      LoginError,
    );
    assertEquals((err as LoginError).code, code);
  }
});

Deno.test("sessions: alg none, HS256 with the public key, foreign keys, expiry and logout are 401", async () => {
  await using s = await testService();
  const operator = newAccount();
  const token = await s.loginOperator(operator);
  const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  const me = (t: string) => s.call("GET", "/v1/operators/me", t);

  const none = new UnsecuredJWT(payload).encode();
  assertEquals((await me(none)).status, 401);
  const publicJwk = s.broker.options.k1.jwks().keys[0];
  const hs = await new SignJWT(payload)
    .setProtectedHeader({ alg: "HS256", typ: SESSION_TYP, kid: publicJwk.kid })
    .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
  assertEquals((await me(hs)).status, 401);
  const foreign = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]);
  const forged = await new SignJWT(payload).setProtectedHeader({
    alg: "ES256",
    typ: SESSION_TYP,
    kid: publicJwk.kid,
  }).sign(foreign.privateKey);
  assertEquals((await me(forged)).status, 401);
  assert(await exportJWK(foreign.publicKey));
  // K1's own algorithm under K1's kid, signed by another Ed25519 key: the signature decides.
  const foreignEd = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign"]);
  const forgedEd = await new SignJWT(payload).setProtectedHeader({
    alg: "EdDSA",
    typ: SESSION_TYP,
    kid: publicJwk.kid,
  }).sign((foreignEd as CryptoKeyPair).privateKey);
  assertEquals((await me(forgedEd)).status, 401);
  assertEquals((await me("")).status, 401);
  assertEquals((await s.call("GET", "/v1/operators/me")).body.error, "no_session");

  assertEquals((await me(token)).status, 200);
  const logout = await s.call("POST", "/v1/auth/logout", token);
  assertEquals(logout.status, 200);
  const after = await me(token);
  assertEquals([after.status, after.body.error], [401, "session_invalid"]);

  const fresh = await s.loginOperator(operator);
  s.advance(12 * 3600 * 1000 + 1000);
  const expired = await me(fresh);
  assertEquals([expired.status, expired.body.error], [401, "session_expired"]);
});

Deno.test("device login: registered devices only, revoked refused, agent session of 15 minutes", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const unknown = await s.call("POST", "/v1/auth/device/start", undefined, {
    device_address: device.address,
  });
  assertEquals([unknown.status, unknown.body.error], [403, "device_unknown"]);

  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  const start = await s.call("POST", "/v1/auth/device/start", undefined, {
    device_address: device.address,
  });
  assertEquals(start.status, 200);
  const signature = await device.signMessage({ message: start.body.message as string });
  const verify = await s.call("POST", "/v1/auth/device/verify", undefined, {
    request_id: start.body.request_id,
    signature,
  });
  assertEquals(verify.status, 200);
  assertEquals(verify.body.actor_omni, agent.actorOmni);
  assertEquals(verify.body.operator_omni, agent.operatorOmni);
  assertEquals(verify.body.device_key_hash, agent.deviceKeyHash);
  const lifetime = Date.parse(verify.body.expires_at as string) - Date.now();
  assert(lifetime <= 15 * 60 * 1000 && lifetime > 14 * 60 * 1000, `lifetime ${lifetime}`);
  const replay = await s.call("POST", "/v1/auth/device/verify", undefined, {
    request_id: start.body.request_id,
    signature,
  });
  assertEquals([replay.status, replay.body.error], [401, "challenge_used"]);

  // Another key cannot answer for this device.
  const again = await s.call("POST", "/v1/auth/device/start", undefined, {
    device_address: device.address,
  });
  const wrong = await newAccount().signMessage({ message: again.body.message as string });
  const bad = await s.call("POST", "/v1/auth/device/verify", undefined, {
    request_id: again.body.request_id,
    signature: wrong,
  });
  assertEquals([bad.status, bad.body.error], [401, "signature_invalid"]);

  // Revoked between start and verify: the verify reads the chain again.
  const pending = await s.call("POST", "/v1/auth/device/start", undefined, {
    device_address: device.address,
  });
  s.identity.revoke(agent.deviceKeyHash);
  const late = await s.call("POST", "/v1/auth/device/verify", undefined, {
    request_id: pending.body.request_id,
    signature: await device.signMessage({ message: pending.body.message as string }),
  });
  assertEquals([late.status, late.body.error], [403, "device_revoked"]);
  const revoked = await s.call("POST", "/v1/auth/device/start", undefined, {
    device_address: device.address,
  });
  assertEquals([revoked.status, revoked.body.error], [403, "device_revoked"]);
});

Deno.test("login CSRF: both verify routes refuse other origins and non-JSON bodies; JSON logins work", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  s.identity.register(operator.address, "mail-bot", device.address);
  const challenge = async (route: "siwe" | "device") => {
    const start = route === "siwe"
      ? await s.call("POST", "/v1/auth/siwe/start", undefined, {
        address: operator.address,
        chain_id: 31337,
      })
      : await s.call("POST", "/v1/auth/device/start", undefined, {
        device_address: device.address,
      });
    const signer = route === "siwe" ? operator : device;
    return {
      request_id: start.body.request_id,
      signature: await signer.signMessage({ message: start.body.message as string }),
    };
  };
  const post = async (route: "siwe" | "device", headers: Record<string, string>, body: unknown) => {
    const res = await s.request(`/v1/auth/${route}/verify`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const json = { "content-type": "application/json" };
  for (const route of ["siwe", "device"] as const) {
    const body = await challenge(route);
    // A form on another origin posts text/plain (no preflight) with the browser's headers.
    const form = await post(
      route,
      { "content-type": "text/plain", origin: "https://evil.example" },
      body,
    );
    assertEquals([form.status, form.body.error], [403, "cross_origin"], route);
    const sibling = await post(route, { ...json, "sec-fetch-site": "same-site" }, body);
    assertEquals([sibling.status, sibling.body.error], [403, "cross_origin"], route);
    const plain = await post(route, { "content-type": "text/plain" }, body);
    assertEquals([plain.status, plain.body.error], [415, "unsupported_media_type"], route);
    const urlencoded = await post(
      route,
      { "content-type": "application/x-www-form-urlencoded" },
      body,
    );
    assertEquals([urlencoded.status, urlencoded.body.error], [415, "unsupported_media_type"]);
    const none = await post(route, {}, body);
    assertEquals([none.status, none.body.error], [415, "unsupported_media_type"], route);
    // None of the refusals consumed the challenge: the JSON login with it still works, from the
    // service's own origin (the console) as from a non-browser client.
    const ok = await post(route, {
      "content-type": "application/json; charset=utf-8",
      origin: PUBLIC_URL,
    }, body);
    assertEquals(ok.status, 200, JSON.stringify(ok.body));
    assert(typeof ok.body.session_jwt === "string");
    const fresh = await post(route, json, await challenge(route));
    assertEquals(fresh.status, 200, JSON.stringify(fresh.body));
  }
});
