import { assertEquals, assertRejects } from "../support/assert.ts";
import { exportJWK, jwtVerify } from "jose";
import { es256Signer, signCompact, threadedSigner } from "../../lib/cap/mod.ts";

async function keyPair() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  return { privateJwk: await exportJWK(pair.privateKey), publicKey: pair.publicKey };
}

Deno.test("noble-signed compact JWS verifies with jose (an independent implementation)", async () => {
  const { privateJwk, publicKey } = await keyPair();
  const signer = es256Signer(privateJwk, "k");
  const jws = await signCompact({ alg: "ES256", typ: "JWT", kid: "k" }, { sub: "x", n: 1 }, signer);
  const { payload, protectedHeader } = await jwtVerify(jws, publicKey);
  assertEquals([payload.sub, payload.n, protectedHeader.kid], ["x", 1, "k"]);
});

Deno.test("the signing thread signs what jose verifies, concurrently, and stops on close", async () => {
  const { privateJwk, publicKey } = await keyPair();
  const signer = threadedSigner(privateJwk, "t", 2);
  try {
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => signCompact({ alg: "ES256", kid: "t" }, { i }, signer)),
    );
    for (const [i, t] of tokens.entries()) {
      assertEquals((await jwtVerify(t, publicKey)).payload.i, i);
    }
  } finally {
    signer.close();
  }
  await assertRejects(async () => await signer.sign(new Uint8Array(1)), Error);
});

Deno.test("a signer refuses a key that is not a private P-256 JWK", async () => {
  const { privateJwk } = await keyPair();
  const { d: _d, ...pub } = privateJwk;
  for (const make of [es256Signer, threadedSigner]) {
    await assertRejects(async () => await make(pub, "k"), TypeError);
  }
});
