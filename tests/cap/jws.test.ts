import { assertEquals, assertThrows } from "../support/assert.ts";
import { exportJWK, jwtVerify } from "jose";
import { jwkAlg, jwsSigner, signCompact } from "../../lib/cap/mod.ts";

async function keyPair(kind: "Ed25519" | "P-256" = "Ed25519") {
  const algorithm = kind === "Ed25519" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: kind };
  const pair = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return { privateJwk: await exportJWK(pair.privateKey), publicKey: pair.publicKey };
}

Deno.test("node:crypto-signed EdDSA compact JWS verifies with jose (an independent implementation)", async () => {
  const { privateJwk, publicKey } = await keyPair();
  const signer = jwsSigner(privateJwk, "k");
  assertEquals(signer.alg, "EdDSA");
  const jws = await signCompact({ typ: "JWT" }, { sub: "x", n: 1 }, signer);
  const { payload, protectedHeader } = await jwtVerify(jws, publicKey, { algorithms: ["EdDSA"] });
  assertEquals([payload.sub, payload.n], ["x", 1]);
  assertEquals(protectedHeader, { typ: "JWT", alg: "EdDSA", kid: "k" });
});

Deno.test("a P-256 key signs ES256 (r ‖ s, not DER) that jose verifies", async () => {
  const { privateJwk, publicKey } = await keyPair("P-256");
  const signer = jwsSigner(privateJwk, "p");
  assertEquals(signer.alg, "ES256");
  const jws = await signCompact({}, { n: 2 }, signer);
  assertEquals(Uint8Array.fromBase64(jws.split(".")[2], { alphabet: "base64url" }).length, 64);
  const { payload } = await jwtVerify(jws, publicKey, { algorithms: ["ES256"] });
  assertEquals(payload.n, 2);
});

Deno.test("the header's alg and kid come from the signer, never from the caller", async () => {
  const { privateJwk, publicKey } = await keyPair();
  const signer = jwsSigner(privateJwk, "real");
  const jws = await signCompact({ alg: "none", kid: "other", typ: "JWT" }, { n: 3 }, signer);
  const { protectedHeader } = await jwtVerify(jws, publicKey, { algorithms: ["EdDSA"] });
  assertEquals([protectedHeader.alg, protectedHeader.kid], ["EdDSA", "real"]);
});

Deno.test("a signer refuses a public key and keys of other types", async () => {
  const { privateJwk } = await keyPair();
  const { d: _d, ...pub } = privateJwk;
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const others = [pub, await exportJWK(p384.privateKey), await exportJWK(hmac as CryptoKey)];
  assertEquals(others.map(jwkAlg), ["EdDSA", undefined, undefined]);
  for (const jwk of others) assertThrows(() => jwsSigner(jwk, "k"), TypeError);
});
