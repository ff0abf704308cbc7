/** The OIDC issuer, proven with an independent client (`openid-client` + its JWKS). */

import { assert, assertEquals } from "../support/assert.ts";
import * as oidc from "openid-client";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { X509Certificate } from "node:crypto";
import { newAccount, testService } from "../support/broker_harness.ts";

Deno.test("a minted OIDC JWT carries the actor as sub, claim and AWS session tag, and verifies against the JWKS", async () => {
  // Served at its public URL: the Host check (routes/host.ts) accepts only that origin.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const issuer = `http://127.0.0.1:${port}`;
  await using s = await testService({ publicUrl: issuer });
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, s.app.fetch);
  try {
    const operator = newAccount();
    const device = newAccount();
    const agent = s.identity.register(operator.address, "bot", device.address);
    const session = await s.loginDevice(device);
    const minted = await s.call("POST", "/v1/mint-oidc-jwt", session, {});
    assertEquals(minted.status, 200);
    const jwt = minted.body.jwt as string;

    const base = `http://127.0.0.1:${server.addr.port}`;
    const header = decodeProtectedHeader(jwt);
    assertEquals([header.alg, header.kid], ["ES256", s.broker.options.k2.current.kid]);
    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(jwt, jwks, {
      issuer,
      audience: "sts.amazonaws.com",
    });
    assertEquals(payload.sub, agent.actorOmni.slice(2));
    assertEquals(payload.agentkeys_actor_omni, agent.actorOmni.slice(2));
    assertEquals(payload["https://aws.amazon.com/tags"], {
      principal_tags: { agentkeys_actor_omni: [agent.actorOmni.slice(2)] },
      transitive_tag_keys: ["agentkeys_actor_omni"],
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("served at its public URL, openid-client discovery succeeds and validates a token", async () => {
  // Pick a port, then build the service with that public URL.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await using s = await testService({
    publicUrl: `http://127.0.0.1:${port}`,
    oidcAudiences: ["sts.amazonaws.com", "my-rgw"],
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, s.app.fetch);
  try {
    const issuer = new URL(`http://127.0.0.1:${port}`);
    const config = await oidc.discovery(issuer, "sts.amazonaws.com", undefined, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const meta = config.serverMetadata();
    assertEquals(meta.issuer, issuer.href.replace(/\/$/, ""));
    assertEquals(meta.id_token_signing_alg_values_supported, ["ES256"]);

    const session = await s.loginOperator(newAccount());
    const minted = await s.call("POST", "/v1/mint-oidc-jwt", session, { audience: "my-rgw" });
    const { payload } = await jwtVerify(
      minted.body.jwt as string,
      createRemoteJWKSet(new URL(meta.jwks_uri!)),
      {
        issuer: meta.issuer,
        audience: "my-rgw",
        algorithms: ["ES256"],
        requiredClaims: ["sub", "iat", "exp"],
      },
    );
    assertEquals(payload.aud, "my-rgw");

    // The JWKS lists the current key first and carries an x5c certificate of that very key.
    const jwks = await (await fetch(meta.jwks_uri!)).json();
    const first = jwks.keys[0];
    assertEquals(first.kid, s.broker.options.k2.current.kid);
    const cert = new X509Certificate(Uint8Array.fromBase64(first.x5c[0]));
    const certJwk = cert.publicKey.export({ format: "jwk" });
    assertEquals([certJwk.x, certJwk.y], [first.x, first.y]);
    assert(first.d === undefined, "no private part in the JWKS");
  } finally {
    await server.shutdown();
  }
});

Deno.test("after K2 rotation the JWKS has the new key first and still the old one", async () => {
  await using s = await testService();
  const session = await s.loginOperator(newAccount());
  const before = (await s.call("POST", "/v1/mint-oidc-jwt", session, {})).body.jwt as string;
  const oldKid = s.broker.options.k2.current.kid;
  await s.broker.options.k2.rotate();
  const jwks = (await s.call("GET", "/.well-known/jwks.json")).body as { keys: { kid: string }[] };
  assertEquals(jwks.keys.map((k) => k.kid), [s.broker.options.k2.current.kid, oldKid]);
  const { createLocalJWKSet } = await import("jose");
  await jwtVerify(before, createLocalJWKSet(jwks as never), { audience: "sts.amazonaws.com" });
  const bad = await s.call("POST", "/v1/mint-oidc-jwt", session, { audience: 5 });
  assertEquals([bad.status, bad.body.error], [400, "bad_request"]);
});

Deno.test("an agent session whose device was revoked after login gets no OIDC token (403 device_revoked)", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "bot", device.address);
  const session = await s.loginDevice(device);
  assertEquals((await s.call("POST", "/v1/mint-oidc-jwt", session, {})).status, 200);
  s.identity.revoke(agent.deviceKeyHash);
  const refused = await s.call("POST", "/v1/mint-oidc-jwt", session, {});
  assertEquals([refused.status, refused.body.error], [403, "device_revoked"]);
  assert(refused.body.jwt === undefined);
});

Deno.test("an agent session whose device is no longer registered gets no OIDC token (403 device_revoked)", async () => {
  await using s = await testService();
  const device = newAccount();
  const agent = s.identity.register(newAccount().address, "bot", device.address);
  const session = await s.loginDevice(device);
  s.identity.devices.delete(agent.deviceKeyHash); // e.g. the registry was redeployed
  const refused = await s.call("POST", "/v1/mint-oidc-jwt", session, {});
  assertEquals([refused.status, refused.body.error], [403, "device_revoked"]);
});

Deno.test("audiences outside AGENTKEYS_OIDC_AUDIENCES are refused (400 audience_not_allowed); none asked: the first listed", async () => {
  await using s = await testService({ oidcAudiences: ["agentkeys-rgw", "sts.amazonaws.com"] });
  const session = await s.loginOperator(newAccount());
  for (const audience of ["some-other-service", "STS.AMAZONAWS.COM", "agentkeys-rgw "]) {
    const r = await s.call("POST", "/v1/mint-oidc-jwt", session, { audience });
    assertEquals([r.status, r.body.error], [400, "audience_not_allowed"], audience);
  }
  const dflt = await s.call("POST", "/v1/mint-oidc-jwt", session, {});
  assertEquals(decodeJwt(dflt.body.jwt as string).aud, "agentkeys-rgw");
  const listed = await s.call("POST", "/v1/mint-oidc-jwt", session, {
    audience: "sts.amazonaws.com",
  });
  assertEquals(decodeJwt(listed.body.jwt as string).aud, "sts.amazonaws.com");
});

Deno.test("by default only sts.amazonaws.com is allowed", async () => {
  await using s = await testService();
  const session = await s.loginOperator(newAccount());
  const other = await s.call("POST", "/v1/mint-oidc-jwt", session, { audience: "my-rgw" });
  assertEquals([other.status, other.body.error], [400, "audience_not_allowed"]);
  const dflt = await s.call("POST", "/v1/mint-oidc-jwt", session, {});
  assertEquals(decodeJwt(dflt.body.jwt as string).aud, "sts.amazonaws.com");
});
