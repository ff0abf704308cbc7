/**
 * Envelope v2 and KEK derivation through the public API (lib/crypto/mod.ts), plus checks
 * against an independent implementation (WebCrypto, and a KEK computed with the openssl CLI)
 * that pin the §3 salt/info strings, the §4 AAD format and the byte layout.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  DATA_CLASSES,
  type DataClass,
  deriveKek,
  ENVELOPE_OVERHEAD,
  EnvelopeAuthFailed,
  EnvelopeEpochDestroyed,
  envelopeEpochTag,
  EnvelopeError,
  EnvelopeUnknownEpoch,
  Kek,
  openEnvelope,
  sealEnvelope,
} from "../../lib/crypto/mod.ts";
import { envelopeAad, type EnvelopeContext } from "../../lib/crypto/_envelope.ts";
import { EnvelopeTooShort } from "../../lib/crypto/_errors.ts";

const utf8 = new TextEncoder();
const K3 = Uint8Array.from({ length: 32 }, (_, i) => i); // 000102…1f
const K3_OTHER = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const ACTOR = "0123456789abcdef".repeat(4);
const ACTOR_OTHER = "fedcba9876543210".repeat(4);
const CTX: EnvelopeContext = { dataClass: "credentials", actorHex: ACTOR, objectName: "gh/token" };
const KEK = deriveKek(K3, CTX.dataClass, CTX.actorHex);
const SECRET = utf8.encode("ghp_exampleexampleexampleexample");

/**
 * KEK(K3 = 00..1f, "credentials", ACTOR) computed with OpenSSL 3.0's own HKDF, not with this
 * code: `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:000102…1f
 * -kdfopt salt:agentkeys.kek.v2 -kdfopt info:"agentkeys|credentials|0123…cdef" HKDF`.
 * If the salt or info strings of §3 drift, this no longer matches.
 */
const PINNED_KEK_HEX = "8331b1156730d31a0d9bb64bc60abe08055d95df4567f9caae0e0f210b35edcb";

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function assertAuthFailed(fn: () => unknown, message?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EnvelopeAuthFailed, `expected EnvelopeAuthFailed, got ${e}`);
    assert.equal(e.code, "auth_failed");
    return true;
  }, message);
}

Deno.test("round trip for empty, small, 1 KiB and 64 KiB plaintexts", () => {
  for (const size of [0, 1, 1024, 64 * 1024]) {
    const pt = crypto.getRandomValues(new Uint8Array(size));
    const blob = sealEnvelope(KEK, 1, CTX, pt);
    assert.equal(blob.length, size + ENVELOPE_OVERHEAD, `length for ${size}`);
    assert.deepEqual(openEnvelope(KEK, 1, CTX, blob), pt);
  }
  assert.equal(ENVELOPE_OVERHEAD, 29);
});

Deno.test("an empty plaintext gives exactly 29 bytes that open to empty", () => {
  const blob = sealEnvelope(KEK, 3, CTX, new Uint8Array());
  assert.equal(blob.length, 29);
  assert.equal(openEnvelope(KEK, 3, CTX, blob).length, 0);
});

Deno.test("byte 0 is epoch mod 256 and envelopeEpochTag reads it", () => {
  for (
    const [epoch, tag] of [[1, 1], [2, 2], [255, 255], [256, 0], [257, 1], [512, 0], [1000, 232]]
  ) {
    const blob = sealEnvelope(KEK, epoch, CTX, SECRET);
    assert.equal(blob[0], tag, `epoch ${epoch}`);
    assert.equal(envelopeEpochTag(blob), tag);
    assert.deepEqual(openEnvelope(KEK, epoch, CTX, blob), SECRET);
  }
});

Deno.test("every seal uses a fresh nonce", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const blob = sealEnvelope(KEK, 1, CTX, SECRET);
    seen.add(blob.subarray(1, 13).join(","));
  }
  assert.equal(seen.size, 200);
  const a = sealEnvelope(KEK, 1, CTX, SECRET), b = sealEnvelope(KEK, 1, CTX, SECRET);
  assert.notDeepEqual(a.subarray(13), b.subarray(13), "same plaintext, different ciphertext");
});

Deno.test("AAD binding: another actor, class, object name or epoch is refused", () => {
  const blob = sealEnvelope(KEK, 1, CTX, SECRET);
  // Same KEK, only the AAD differs: shows the AAD itself carries each field.
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, actorHex: ACTOR_OTHER }, blob), "actor");
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, dataClass: "memory" }, blob), "class");
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, objectName: "gh/token2" }, blob), "name");
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, objectName: "gh/Token" }, blob), "case");
  // Epoch 257 has the same tag byte as 1: only the full epoch in the AAD refuses it.
  assertAuthFailed(() => openEnvelope(KEK, 257, CTX, blob), "epoch 257, same tag byte");
  assertAuthFailed(() => openEnvelope(KEK, 2, CTX, blob), "epoch 2, other tag byte");
  // A blob copied to another actor's location, opened with that actor's own KEK and context.
  const otherCtx = { ...CTX, actorHex: ACTOR_OTHER };
  const otherKek = deriveKek(K3, "credentials", ACTOR_OTHER);
  assertAuthFailed(() => openEnvelope(otherKek, 1, otherCtx, blob), "copied to another actor");
  // The untouched blob still opens: the refusals above are not a broken blob.
  assert.deepEqual(openEnvelope(KEK, 1, CTX, blob), SECRET);
});

Deno.test("a flipped bit anywhere (tag byte, nonce, ciphertext, GCM tag) is refused", () => {
  const blob = sealEnvelope(KEK, 5, CTX, utf8.encode("sixteen byte pt!"));
  assert.equal(blob.length, 45);
  let refused = 0;
  for (let byte = 0; byte < blob.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = blob.slice();
      bad[byte] ^= 1 << bit;
      assertAuthFailed(() => openEnvelope(KEK, 5, CTX, bad), `byte ${byte} bit ${bit}`);
      refused++;
    }
  }
  assert.equal(refused, 45 * 8);
  assert.deepEqual(openEnvelope(KEK, 5, CTX, blob), utf8.encode("sixteen byte pt!"));
});

Deno.test("blobs under 29 bytes throw EnvelopeTooShort; longer truncations fail auth", () => {
  const blob = sealEnvelope(KEK, 1, CTX, SECRET);
  for (let len = 0; len < 29; len++) {
    const short = blob.slice(0, len);
    for (const fn of [() => envelopeEpochTag(short), () => openEnvelope(KEK, 1, CTX, short)]) {
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof EnvelopeTooShort, `length ${len}: got ${e}`);
        assert.equal(e.code, "too_short");
        assert.equal(e.length, len);
        return true;
      });
    }
  }
  for (let len = 29; len < blob.length; len++) {
    assertAuthFailed(() => openEnvelope(KEK, 1, CTX, blob.slice(0, len)), `length ${len}`);
  }
  // Extra bytes appended are refused too.
  const longer = new Uint8Array(blob.length + 1);
  longer.set(blob);
  assertAuthFailed(() => openEnvelope(KEK, 1, CTX, longer), "one byte appended");
});

Deno.test("KEKs differ per K3 epoch key, data class and actor", () => {
  for (const dataClass of DATA_CLASSES) {
    const ctx = { ...CTX, dataClass };
    const kek = deriveKek(K3, dataClass, ACTOR);
    const blob = sealEnvelope(kek, 1, ctx, SECRET);
    assert.deepEqual(openEnvelope(deriveKek(K3, dataClass, ACTOR), 1, ctx, blob), SECRET);
    // Same AAD each time, only the KEK differs: any refusal comes from the key.
    assertAuthFailed(() => openEnvelope(deriveKek(K3_OTHER, dataClass, ACTOR), 1, ctx, blob));
    assertAuthFailed(() => openEnvelope(deriveKek(K3, dataClass, ACTOR_OTHER), 1, ctx, blob));
    for (const otherClass of DATA_CLASSES.filter((c) => c !== dataClass)) {
      assertAuthFailed(() => openEnvelope(deriveKek(K3, otherClass, ACTOR), 1, ctx, blob));
    }
  }
});

Deno.test("pinned KEK and AAD: WebCrypto with the literal §3/§4 strings interoperates", async () => {
  const subtle = crypto.subtle;
  // 1. HKDF via WebCrypto with the §3 strings written out here, compared to the openssl value.
  const ikm = await subtle.importKey("raw", K3, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: utf8.encode("agentkeys.kek.v2"),
      info: utf8.encode("agentkeys|credentials|" + ACTOR),
    },
    ikm,
    256,
  );
  const kekBytes = new Uint8Array(bits);
  assert.deepEqual(kekBytes, fromHex(PINNED_KEK_HEX));
  const aesKey = await subtle.importKey("raw", kekBytes, "AES-GCM", false, ["encrypt", "decrypt"]);
  const aad = utf8.encode("agentkeys.v2|credentials|" + ACTOR + "|gh/token|258");
  assert.deepEqual(envelopeAad(258, CTX), aad);

  // 2. A blob built by hand (byte 0 = 258 mod 256 = 2, nonce, ct‖tag) opens through the API.
  const nonce = fromHex("0a0b0c0d0e0f101112131415");
  const ct = new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, aesKey, SECRET),
  );
  const handmade = new Uint8Array([2, ...nonce, ...ct]);
  assert.deepEqual(openEnvelope(KEK, 258, CTX, handmade), SECRET);

  // 3. A blob sealed through the API decrypts with WebCrypto, the same key and literal AAD.
  const blob = sealEnvelope(KEK, 258, CTX, SECRET);
  assert.equal(blob[0], 2);
  const pt = await subtle.decrypt(
    { name: "AES-GCM", iv: blob.subarray(1, 13), additionalData: aad },
    aesKey,
    blob.subarray(13),
  );
  assert.deepEqual(new Uint8Array(pt), SECRET);
});

Deno.test("bad contexts, epochs and keys throw TypeError", () => {
  const blob = sealEnvelope(KEK, 1, CTX, SECRET);
  const badContexts: unknown[] = [
    null,
    "credentials",
    { ...CTX, dataClass: "secrets" },
    { ...CTX, dataClass: "Credentials" },
    { ...CTX, actorHex: ACTOR.toUpperCase() },
    { ...CTX, actorHex: "0x" + ACTOR.slice(2) },
    { ...CTX, actorHex: ACTOR.slice(1) },
    { ...CTX, actorHex: ACTOR + "0" },
    { ...CTX, actorHex: "g" + ACTOR.slice(1) },
    { ...CTX, objectName: "" },
    { ...CTX, objectName: 42 },
    { ...CTX, objectName: "a\uD800b" }, // lone surrogate: would encode like "a\uFFFDb"
  ];
  for (const ctx of badContexts) {
    const c = ctx as EnvelopeContext;
    assert.throws(() => sealEnvelope(KEK, 1, c, SECRET), TypeError, JSON.stringify(ctx));
    assert.throws(() => openEnvelope(KEK, 1, c, blob), TypeError, JSON.stringify(ctx));
    assert.throws(() => envelopeAad(1, c), TypeError, JSON.stringify(ctx));
  }
  for (const epoch of [0, -1, 1.5, NaN, Infinity, 2 ** 53, "1" as unknown as number]) {
    assert.throws(() => sealEnvelope(KEK, epoch, CTX, SECRET), TypeError, `epoch ${epoch}`);
    assert.throws(() => openEnvelope(KEK, epoch, CTX, blob), TypeError, `epoch ${epoch}`);
  }
  for (const k3 of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
    assert.throws(() => deriveKek(k3, "credentials", ACTOR), TypeError);
  }
  assert.throws(() => deriveKek(K3, "secrets" as DataClass, ACTOR), TypeError);
  assert.throws(() => deriveKek(K3, "credentials", ACTOR.toUpperCase()), TypeError);
  assert.throws(() => deriveKek(K3, "credentials", "0x" + ACTOR), TypeError);
  // A KEK derived for another class or actor than ctx names would write an unreadable blob.
  assert.throws(() => sealEnvelope(deriveKek(K3, "memory", ACTOR), 1, CTX, SECRET), TypeError);
  assert.throws(
    () => sealEnvelope(deriveKek(K3, "credentials", ACTOR_OTHER), 1, CTX, SECRET),
    TypeError,
  );
  assert.throws(() => sealEnvelope({} as Kek, 1, CTX, SECRET), TypeError);
  assert.throws(() => sealEnvelope(KEK, 1, CTX, "text" as unknown as Uint8Array), TypeError);
});

Deno.test("object names may contain '|' and non-ASCII without colliding", () => {
  const a = sealEnvelope(KEK, 1, { ...CTX, objectName: "a|1" }, SECRET);
  assert.deepEqual(openEnvelope(KEK, 1, { ...CTX, objectName: "a|1" }, a), SECRET);
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, objectName: "a" }, a));
  const b = sealEnvelope(KEK, 1, { ...CTX, objectName: "café/ключ" }, SECRET);
  assert.deepEqual(openEnvelope(KEK, 1, { ...CTX, objectName: "café/ключ" }, b), SECRET);
  // "cafe\u0301" (decomposed) is a different name: no normalization happens.
  assertAuthFailed(() => openEnvelope(KEK, 1, { ...CTX, objectName: "cafe\u0301/ключ" }, b));
});

Deno.test("a Kek never shows its key bytes and cannot be constructed directly", () => {
  const views = [String(KEK), JSON.stringify({ k: KEK }), Deno.inspect(KEK), `${KEK}`];
  for (const v of views) {
    assert.ok(!v.toLowerCase().includes(PINNED_KEK_HEX.slice(0, 16)), v);
    assert.match(v, /Kek\(credentials, 01234567…\)/);
  }
  assert.deepEqual(Object.keys(KEK).sort(), ["actorHex", "dataClass"]);
  assert.ok(Object.isFrozen(KEK));
  const Ctor = Kek as unknown as new (...args: unknown[]) => Kek;
  assert.throws(() => new Ctor(Symbol("x"), new Uint8Array(32), "credentials", ACTOR), TypeError);
});

Deno.test("error classes carry their codes and fields", () => {
  const cases: [EnvelopeError, string][] = [
    [new EnvelopeTooShort(3), "too_short"],
    [new EnvelopeUnknownEpoch(17), "unknown_epoch"],
    [new EnvelopeEpochDestroyed(4), "epoch_destroyed"],
    [new EnvelopeAuthFailed(), "auth_failed"],
  ];
  for (const [err, code] of cases) {
    assert.ok(err instanceof EnvelopeError && err instanceof Error);
    assert.equal(err.code, code);
    assert.equal(err.name, err.constructor.name);
  }
  assert.equal(new EnvelopeUnknownEpoch(17).tag, 17);
  assert.equal(new EnvelopeEpochDestroyed(4).epoch, 4);
  assert.equal(new EnvelopeTooShort(3).length, 3);
});

Deno.test("opened plaintext is its own buffer, not a view into shared memory", () => {
  // Small outputs come from node's Buffer pool (copied out), large ones own their memory.
  for (const size of [0, 1, 32, 1024, 4095, 4096, 64 * 1024]) {
    const data = new Uint8Array(size).fill(0x5a);
    const pt = openEnvelope(KEK, 1, CTX, sealEnvelope(KEK, 1, CTX, data));
    assert.equal(pt.byteOffset, 0, `size ${size}`);
    assert.equal(pt.buffer.byteLength, size, `size ${size}`);
    assert.deepEqual(pt, data);
  }
});
