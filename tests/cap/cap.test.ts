import { assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { exportJWK, SignJWT, UnsecuredJWT } from "jose";
import {
  CAP_TYP,
  CapClaimsInvalid,
  CapExpired,
  CapInvalid,
  mintCap,
  validateCapClaims,
  verifyCap,
} from "../../lib/cap/mod.ts";
import { credGrant, testCapKey } from "../support/caps.ts";

Deno.test("a minted cap verifies and carries every claim of §7", async () => {
  const k = await testCapKey();
  const { cap, claims } = await mintCap(credGrant(), k.signing, { ttlSeconds: 120 });
  const verified = await verifyCap(cap, k.keys);
  assertEquals(verified, claims);
  assertEquals(claims.exp - claims.iat, 120);
  assertEquals(claims.jti.length, 32);
  const header = JSON.parse(atob(cap.split(".")[0]));
  assertEquals(header, { alg: "ES256", typ: CAP_TYP, kid: "test-k1" });
});

Deno.test("each cap gets a fresh jti", async () => {
  const k = await testCapKey();
  const a = await mintCap(credGrant(), k.signing);
  const b = await mintCap(credGrant(), k.signing);
  if (a.claims.jti === b.claims.jti) throw new Error("jti reused");
});

Deno.test("expired caps are CapExpired, within 60 s of skew they still pass", async () => {
  const k = await testCapKey();
  const past = new Date(Date.now() - 400_000);
  const cap = await k.mint({}, { ttlSeconds: 300, now: past }); // expired 100 s ago
  await assertRejects(() => verifyCap(cap, k.keys), CapExpired);
  const recent = await k.mint({}, { ttlSeconds: 300, now: new Date(Date.now() - 330_000) }); // 30 s ago
  await verifyCap(recent, k.keys);
});

Deno.test("ttl outside 1..1800 s is refused at mint", async () => {
  const k = await testCapKey();
  await assertRejects(() => k.mint({}, { ttlSeconds: 1801 }), CapClaimsInvalid);
  await assertRejects(() => k.mint({}, { ttlSeconds: 0 }), CapClaimsInvalid);
});

Deno.test("a cap signed by another key is CapInvalid", async () => {
  const k = await testCapKey();
  const other = await testCapKey(); // same kid, different key
  const forged = await other.mint({});
  await assertRejects(() => verifyCap(forged, k.keys), CapInvalid);
});

Deno.test("alg none and HS256 signed with the public key are refused", async () => {
  const k = await testCapKey();
  const claims = { ...credGrant(), iat: 1, exp: 4102444800, jti: "a".repeat(32) };
  const none = new UnsecuredJWT(claims).encode();
  await assertRejects(() => verifyCap(none, k.keys), CapInvalid);
  const pub = await exportJWK(
    (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]))
      .publicKey,
  );
  const hmacKey = new TextEncoder().encode(JSON.stringify(pub));
  const hs = await new SignJWT(claims).setProtectedHeader({
    alg: "HS256",
    typ: CAP_TYP,
    kid: "test-k1",
  }).sign(hmacKey);
  await assertRejects(() => verifyCap(hs, k.keys), CapInvalid);
});

Deno.test("a JWT without the cap typ is refused (a session token is not a cap)", async () => {
  const k = await testCapKey();
  const claims = {
    ...credGrant(),
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 60,
    jti: "b".repeat(32),
  };
  const jwt = await new SignJWT(claims).setProtectedHeader({
    alg: "ES256",
    kid: "test-k1",
    typ: "JWT",
  }).sign(k.privateKey);
  await assertRejects(() => verifyCap(jwt, k.keys), CapInvalid);
});

Deno.test("garbage tokens are CapInvalid", async () => {
  const k = await testCapKey();
  for (const t of ["", "a.b.c", "not a jwt", "eyJhbGciOiJFUzI1NiJ9.e30."]) {
    await assertRejects(() => verifyCap(t, k.keys), CapInvalid);
  }
});

Deno.test("claim validation refuses each malformed claim", () => {
  const good = { ...credGrant(), iat: 100, exp: 400, jti: "c".repeat(32) };
  validateCapClaims(good);
  const bad: Record<string, unknown>[] = [
    { op: "delete" },
    { data_class: "secrets" },
    { service: "../etc" },
    { service: "Upper" },
    { service: "a".repeat(65) },
    { service: undefined },
    { operator_omni: "0x12" },
    { actor_omni: "0x" + "AB".repeat(32) },
    { device_key_hash: 5 },
    { read_only: "no" },
    { minted_by: "admin" },
    { k3_epoch: 0 },
    { exp: 100 + 1801 },
    { exp: 100 },
    { jti: "short" },
  ];
  for (const b of bad) assertThrows(() => validateCapClaims({ ...good, ...b }), CapClaimsInvalid);
  assertThrows(
    () => validateCapClaims({ ...good, data_class: "memory", service: undefined }),
    CapClaimsInvalid,
  );
  assertEquals(
    validateCapClaims({ ...good, data_class: "memory", service: undefined, namespace: "notes" })
      .namespace,
    "notes",
  );
});
