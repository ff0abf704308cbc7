/**
 * Caps and sessions as the service makes and checks them: a real K1 keyring (Ed25519), the
 * session issuer and `verifyCap` over the keyring's verifier, each refusal on its own.
 */

import { assertEquals, assertRejects } from "../support/assert.ts";
import { join } from "node:path";
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT, UnsecuredJWT } from "jose";
import {
  type CapClaims,
  mintCap,
  signCompact,
  VerifiedTokenCache,
  verifyCap,
} from "../../lib/cap/mod.ts";
import { CAP_TYP } from "../../lib/cap/_claims.ts";
import { CapInvalid } from "../../lib/cap/_token.ts";
import { SessionInvalid, SigningKeyring } from "../../lib/broker/mod.ts";
import { SESSION_TYP } from "../../lib/broker/_sessions.ts";
import { SessionIssuer } from "../../lib/broker/_sessions.ts";
import { KvStateStore } from "../../lib/state/mod.ts";
import { credGrant } from "../support/caps.ts";
import { tempDir } from "../support/tmp.ts";

const ISSUER = "http://127.0.0.1:8787";

async function k1Fixture() {
  const dir = await tempDir();
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  const open = (purpose: "k1" | "k2") =>
    SigningKeyring.open({
      path: join(dir.path, `${purpose}.json`),
      sealKey,
      purpose,
      withCertificate: purpose === "k2",
      retainSeconds: 3600,
    });
  const k1 = await open("k1");
  const k2 = await open("k2");
  const state = await KvStateStore.open(undefined);
  const sessions = new SessionIssuer(k1, state, ISSUER);
  const nowS = Math.floor(Date.now() / 1000);
  return {
    k1,
    k2,
    sessions,
    /** Valid cap claims (fetch) for hand-made tokens. */
    capClaims: { ...credGrant({ op: "fetch" }), iat: nowS, exp: nowS + 300, jti: "a".repeat(32) },
    /** Valid session claims for hand-made tokens. */
    sessionClaims: {
      sub: "0x" + "ab".repeat(20),
      iss: ISSUER,
      aud: ISSUER,
      iat: nowS,
      exp: nowS + 600,
      jti: "b".repeat(32),
      kind: "operator",
      operator_omni: "0x" + "11".repeat(32),
      actor_omni: "0x" + "11".repeat(32),
      proved_at: nowS,
    },
    async [Symbol.asyncDispose]() {
      state.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

function header(token: string): Record<string, unknown> {
  return JSON.parse(atob(token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
}

Deno.test("K1 caps and sessions are EdDSA and verify with jose against K1's published keys", async () => {
  await using f = await k1Fixture();
  assertEquals(f.k1.current.alg, "EdDSA");
  assertEquals(f.k1.jwks().keys[0].kty, "OKP");
  assertEquals(f.k1.algorithms(), ["EdDSA"]);
  assertEquals(f.k2.current.alg, "ES256"); // STS and RGW need it
  const { cap } = await mintCap(credGrant({ op: "fetch" }), f.k1.current.signer);
  const { token } = await f.sessions.issue({
    kind: "operator",
    address: "0x" + "ab".repeat(20),
    operatorOmni: "0x" + "11".repeat(32),
    actorOmni: "0x" + "11".repeat(32),
  });
  // jose with a key set of its own, not the keyring's verifier.
  const independent = createLocalJWKSet(f.k1.jwks());
  for (const [t, typ] of [[cap, CAP_TYP], [token, SESSION_TYP]]) {
    assertEquals(header(t), { typ, alg: "EdDSA", kid: f.k1.current.kid });
    await jwtVerify(t, independent, { algorithms: ["EdDSA"], typ });
  }
  assertEquals((await verifyCap(cap, f.k1.verifier)).op, "fetch");
  assertEquals((await f.sessions.verify(token)).kind, "operator");
});

Deno.test("alg none and HS256 keyed with K1's public key are refused as caps and as sessions", async () => {
  await using f = await k1Fixture();
  const pub = f.k1.jwks().keys[0];
  const secrets = [
    new TextEncoder().encode(JSON.stringify(pub)),
    Uint8Array.fromBase64(pub.x!, { alphabet: "base64url" }), // the raw 32-byte public key
  ];
  const variants = async (claims: Record<string, unknown>, typ: string) => [
    new UnsecuredJWT(claims).encode(),
    ...await Promise.all(
      secrets.map((s) =>
        new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ, kid: pub.kid }).sign(s)
      ),
    ),
  ];
  for (const t of await variants(f.capClaims, CAP_TYP)) {
    await assertRejects(() => verifyCap(t, f.k1.verifier), CapInvalid);
  }
  for (const t of await variants(f.sessionClaims, SESSION_TYP)) {
    await assertRejects(() => f.sessions.verify(t), SessionInvalid, "not valid");
  }
});

Deno.test("a cap signed with a P-256 key is refused: K2's, under K1's kid, or K1's own pre-Ed25519 key", async () => {
  await using f = await k1Fixture();
  // mintCap will not sign a cap with a P-256 key at all.
  await assertRejects(() => mintCap(credGrant(), f.k2.current.signer), TypeError, "EdDSA");
  const es256 = (kid: string, key: CryptoKey, claims: Record<string, unknown>, typ: string) =>
    new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ, kid }).sign(key);
  const byK2 = await es256(f.k2.current.kid, f.k2.current.privateKey, f.capClaims, CAP_TYP);
  await assertRejects(() => verifyCap(byK2, f.k1.verifier), CapInvalid);
  const k1Kid = await es256(f.k1.current.kid, f.k2.current.privateKey, f.capClaims, CAP_TYP);
  await assertRejects(() => verifyCap(k1Kid, f.k1.verifier), CapInvalid);
  // Nor as a session: K1's key set holds no P-256 key here.
  const session = await es256(
    f.k1.current.kid,
    f.k2.current.privateKey,
    f.sessionClaims,
    SESSION_TYP,
  );
  await assertRejects(() => f.sessions.verify(session), SessionInvalid, "not valid");

  // A P-256 key that K1's set does hold (retained from before Ed25519, see
  // tests/broker/keyring.test.ts): its sessions verify, its caps never do.
  const legacy = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const legacyJwk = { ...(await exportJWK(legacy.publicKey)), kid: "legacy", alg: "ES256" };
  const withLegacy = createLocalJWKSet({ keys: [...f.k1.jwks().keys, legacyJwk] });
  const legacyCap = await es256("legacy", legacy.privateKey, f.capClaims, CAP_TYP);
  await jwtVerify(legacyCap, withLegacy, { algorithms: ["ES256"] }); // the signature is good
  await assertRejects(() => verifyCap(legacyCap, withLegacy), CapInvalid);
});

/** Refused as a cap because of its `typ` header, not for any other reason. */
async function assertTypRefused(verify: () => Promise<unknown>) {
  const err = await assertRejects(verify, CapInvalid);
  assertEquals((err.cause as { claim?: string }).claim, "typ");
}

Deno.test("a session presented as a cap and a cap presented as a session are refused", async () => {
  await using f = await k1Fixture();
  const { token } = await f.sessions.issue({
    kind: "agent",
    address: "0x" + "cd".repeat(20),
    operatorOmni: "0x" + "11".repeat(32),
    actorOmni: "0x" + "22".repeat(32),
    deviceKeyHash: "0x" + "44".repeat(32),
  });
  await assertTypRefused(() => verifyCap(token, f.k1.verifier));
  const { cap } = await mintCap(credGrant({ op: "fetch" }), f.k1.current.signer);
  await assertRejects(() => f.sessions.verify(cap), SessionInvalid, "not valid");
  // Same key, the other's claims under the other's typ: the typ alone decides.
  const signer = f.k1.current.signer;
  const capShaped = await signCompact({ typ: SESSION_TYP }, f.capClaims, signer);
  await assertTypRefused(() => verifyCap(capShaped, f.k1.verifier));
  const sessionShaped = await signCompact({ typ: CAP_TYP }, f.sessionClaims, signer);
  await assertRejects(() => f.sessions.verify(sessionShaped), SessionInvalid, "not valid");
  assertEquals(
    (await f.sessions.verify(await signCompact({ typ: SESSION_TYP }, f.sessionClaims, signer))).jti,
    "b".repeat(32),
  );
});

Deno.test("a token under an unknown kid is refused (a K1 key of another data directory)", async () => {
  await using f = await k1Fixture();
  await using other = await k1Fixture();
  const { cap } = await mintCap(credGrant({ op: "fetch" }), other.k1.current.signer);
  await verifyCap(cap, other.k1.verifier);
  await assertRejects(() => verifyCap(cap, f.k1.verifier), CapInvalid, "no_matching_key");
  const session = await signCompact({ typ: SESSION_TYP }, f.sessionClaims, other.k1.current.signer);
  await assertRejects(() => f.sessions.verify(session), SessionInvalid, "not valid");
});

Deno.test("a tampered payload is refused, even when the untampered token is cached", async () => {
  await using f = await k1Fixture();
  const cache = new VerifiedTokenCache<CapClaims>(10);
  const { cap } = await mintCap(credGrant({ op: "fetch", read_only: true }), f.k1.current.signer, {
    cache,
  });
  const [h, p, s] = cap.split(".");
  const claims = JSON.parse(
    new TextDecoder().decode(Uint8Array.fromBase64(p, { alphabet: "base64url" })),
  );
  const reencode = (o: unknown) =>
    new TextEncoder().encode(JSON.stringify(o)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
  const tampered = `${h}.${reencode({ ...claims, read_only: false })}.${s}`;
  await assertRejects(() => verifyCap(tampered, f.k1.verifier, { cache }), CapInvalid, "signature");
  assertEquals((await verifyCap(cap, f.k1.verifier, { cache })).read_only, true);

  const { token } = await f.sessions.issue({
    kind: "agent",
    address: "0x" + "cd".repeat(20),
    operatorOmni: "0x" + "11".repeat(32),
    actorOmni: "0x" + "22".repeat(32),
    deviceKeyHash: "0x" + "44".repeat(32),
  });
  const [sh, sp, ss] = token.split(".");
  const session = JSON.parse(
    new TextDecoder().decode(Uint8Array.fromBase64(sp, { alphabet: "base64url" })),
  );
  const promoted = `${sh}.${reencode({ ...session, kind: "operator" })}.${ss}`;
  await assertRejects(() => f.sessions.verify(promoted), SessionInvalid, "not valid");
  assertEquals((await f.sessions.verify(token)).kind, "agent");
});
