import { assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { exportJWK, SignJWT, UnsecuredJWT } from "jose";
import { CapExpired, mintCap, verifyCap } from "../../lib/cap/mod.ts";
import { CAP_TYP, CapClaimsInvalid, validateCapClaims } from "../../lib/cap/_claims.ts";
import { CapInvalid } from "../../lib/cap/_token.ts";
import { credGrant, testCapKey } from "../support/caps.ts";

Deno.test("a minted cap verifies and carries every claim of §7", async () => {
  const k = await testCapKey();
  const { cap, claims } = await mintCap(credGrant({ op: "fetch" }), k.signing, { ttlSeconds: 120 });
  const verified = await verifyCap(cap, k.keys);
  assertEquals(verified, claims);
  assertEquals(claims.exp - claims.iat, 120);
  assertEquals(claims.jti.length, 32);
  const header = JSON.parse(atob(cap.split(".")[0]));
  assertEquals(header, { alg: "EdDSA", typ: CAP_TYP, kid: "test-k1" });
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
  const fetch = { op: "fetch" } as const;
  const cap = await k.mint(fetch, { ttlSeconds: 300, now: past }); // expired 100 s ago
  await assertRejects(() => verifyCap(cap, k.keys), CapExpired);
  const recent = await k.mint(fetch, { ttlSeconds: 300, now: new Date(Date.now() - 330_000) }); // 30 s ago
  await verifyCap(recent, k.keys);
});

Deno.test("ttl above the op's maximum (fetch 300 s, store and teardown 60 s) is refused at mint", async () => {
  const k = await testCapKey();
  await assertRejects(() => k.mint({ op: "fetch" }, { ttlSeconds: 301 }), CapClaimsInvalid);
  await assertRejects(() => k.mint({ op: "store" }, { ttlSeconds: 61 }), CapClaimsInvalid);
  await assertRejects(() => k.mint({ op: "teardown" }, { ttlSeconds: 61 }), CapClaimsInvalid);
  await assertRejects(() => k.mint({}, { ttlSeconds: 0 }), CapClaimsInvalid);
  const lifetime = async (op: "store" | "fetch" | "teardown", ttlSeconds?: number) => {
    const { claims } = await mintCap(credGrant({ op }), k.signing, { ttlSeconds });
    return claims.exp - claims.iat;
  };
  assertEquals(
    [await lifetime("fetch"), await lifetime("store"), await lifetime("teardown")],
    [300, 60, 60],
  );
  assertEquals([await lifetime("fetch", 300), await lifetime("store", 60)], [300, 60]);
});

Deno.test("a correctly signed cap that lives longer than its op allows is refused by the verifier", async () => {
  // A misconfigured (or older) minter: the signature is fine, only the lifetime is not.
  const k = await testCapKey();
  const iat = Math.floor(Date.now() / 1000);
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: CAP_TYP, kid: "test-k1" })
      .sign(k.privateKey);
  const base = { iat, jti: "d".repeat(32) };
  const longFetch = await sign({ ...credGrant({ op: "fetch" }), ...base, exp: iat + 1800 });
  await assertRejects(() => verifyCap(longFetch, k.keys), CapInvalid, "lifetime");
  const longStore = await sign({ ...credGrant({ op: "store" }), ...base, exp: iat + 300 });
  await assertRejects(() => verifyCap(longStore, k.keys), CapInvalid, "lifetime");
  const okFetch = await sign({ ...credGrant({ op: "fetch" }), ...base, exp: iat + 300 });
  assertEquals((await verifyCap(okFetch, k.keys)).exp, iat + 300);
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
  // The verifier's own public key, as the JWK text and as the raw 32 Ed25519 bytes.
  const pub = await exportJWK(k.publicKey);
  for (
    const hmacKey of [
      new TextEncoder().encode(JSON.stringify(pub)),
      Uint8Array.fromBase64(pub.x!, { alphabet: "base64url" }),
    ]
  ) {
    const hs = await new SignJWT(claims).setProtectedHeader({
      alg: "HS256",
      typ: CAP_TYP,
      kid: "test-k1",
    }).sign(hmacKey);
    await assertRejects(() => verifyCap(hs, k.keys), CapInvalid);
  }
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
    alg: "EdDSA",
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
  const good = { ...credGrant({ op: "fetch" }), iat: 100, exp: 400, jti: "c".repeat(32) };
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
    { exp: 100 + 301 },
    { op: "store" }, // 300 s is too long for a write
    { op: "teardown" },
    { exp: 100 },
    { jti: "short" },
    { sid: undefined },
    { sid: "e".repeat(31) },
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
