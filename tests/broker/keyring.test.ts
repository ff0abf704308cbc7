import { assertEquals, assertRejects } from "../support/assert.ts";
import { join } from "node:path";
import { exportJWK, SignJWT } from "jose";
import { keyringSealAad, SessionInvalid, SigningKeyring } from "../../lib/broker/mod.ts";
import { KeyringUnreadable } from "../../lib/broker/_keyring.ts";
import { SESSION_TYP } from "../../lib/broker/_sessions.ts";
import { SessionIssuer } from "../../lib/broker/_sessions.ts";
import { sealSecret } from "../../lib/crypto/mod.ts";
import { KvStateStore } from "../../lib/state/mod.ts";
import { tempDir } from "../support/tmp.ts";

Deno.test("a keyring survives a reopen and refuses a wrong seal key without touching the file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "k1.json");
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  const a = await SigningKeyring.open({ path, sealKey, purpose: "k1", retainSeconds: 60 });
  const b = await SigningKeyring.open({ path, sealKey, purpose: "k1", retainSeconds: 60 });
  assertEquals(a.current.kid, b.current.kid);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  const before = await Deno.readFile(path);
  await assertRejects(
    () =>
      SigningKeyring.open({ path, sealKey: new Uint8Array(32), purpose: "k1", retainSeconds: 60 }),
    KeyringUnreadable,
  );
  // The purpose is bound in: a K1 file does not open as K2.
  await assertRejects(
    () => SigningKeyring.open({ path, sealKey, purpose: "k2", retainSeconds: 60 }),
    KeyringUnreadable,
  );
  assertEquals(await Deno.readFile(path), before);
});

Deno.test("retired keys leave the JWKS once everything they signed has expired", async () => {
  await using dir = await tempDir();
  let now = 1_000_000;
  const ring = await SigningKeyring.open({
    path: join(dir.path, "k.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
    purpose: "k1",
    retainSeconds: 60,
    now: () => now,
  });
  const first = ring.current.kid;
  await ring.rotate();
  assertEquals(ring.jwks().keys.map((k) => k.kid), [ring.current.kid, first]);
  now += 61_000;
  assertEquals(ring.jwks().keys.map((k) => k.kid), [ring.current.kid]);
});

Deno.test("a K1 file from before Ed25519 is rotated on open; its P-256 key verifies sessions until retained no longer", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "k1.json");
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  let now = 1_700_000_000_000;
  // A K1 as this service wrote it before: one P-256 key, sealed under the K1 AAD.
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const legacy = { kid: "p256legacy", jwk: await exportJWK(pair.privateKey), created_at: now };
  const body = new TextEncoder().encode(JSON.stringify({ keys: [legacy] }));
  const sealed = sealSecret(sealKey, keyringSealAad("k1"), body).toBase64();
  await Deno.writeTextFile(path, JSON.stringify({ sealed }) + "\n", { mode: 0o600 });

  now += 1000;
  const open = () =>
    SigningKeyring.open({ path, sealKey, purpose: "k1", retainSeconds: 60, now: () => now });
  const ring = await open();
  assertEquals([ring.current.alg, ring.current.publicJwk.kty], ["EdDSA", "OKP"]);
  assertEquals(ring.jwks().keys.map((k) => [k.kid, k.alg]), [
    [ring.current.kid, "EdDSA"],
    ["p256legacy", "ES256"],
  ]);
  assertEquals(ring.algorithms(), ["EdDSA", "ES256"]);
  // The rotation is on disk: a second open keeps the same Ed25519 key.
  assertEquals((await open()).current.kid, ring.current.kid);

  const state = await KvStateStore.open(undefined);
  try {
    const issuer = "http://127.0.0.1:8787";
    const sessions = new SessionIssuer(ring, state, issuer, () => new Date(now));
    const iat = Math.floor(now / 1000);
    const before = await new SignJWT({
      kind: "operator",
      operator_omni: "0x" + "11".repeat(32),
      actor_omni: "0x" + "11".repeat(32),
      proved_at: iat,
    }).setProtectedHeader({ alg: "ES256", typ: SESSION_TYP, kid: "p256legacy" })
      .setSubject("0x" + "ab".repeat(20)).setIssuer(issuer).setAudience(issuer)
      .setIssuedAt(iat).setExpirationTime(iat + 3600).setJti("c".repeat(32))
      .sign(pair.privateKey);
    // A session signed before the upgrade lives on.
    assertEquals((await sessions.verify(before)).jti, "c".repeat(32));
    // Past retainSeconds the P-256 key is gone, and ES256 with it (a fresh issuer: no cache).
    now += 61_000;
    assertEquals(ring.algorithms(), ["EdDSA"]);
    const later = new SessionIssuer(ring, state, issuer, () => new Date(now));
    await assertRejects(() => later.verify(before), SessionInvalid, "not valid");
    const reopened = await open();
    assertEquals(reopened.jwks().keys.map((k) => k.kid), [ring.current.kid]);
  } finally {
    state.close();
  }
});
