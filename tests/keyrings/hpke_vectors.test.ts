/**
 * RFC 9180 interoperability of the HPKE construction lib/keyrings uses (`hpkeSuite`): the RFC's
 * A.1.1 vectors (same KEM and KDF, AES-128-GCM) through it, and the AES-256-GCM suite's key
 * schedule against an independent RFC 9180 computation (node:crypto HKDF and AES) on the same
 * KEM output.
 */

import { createCipheriv, createHmac } from "node:crypto";
import { hpkeSuite } from "../../lib/keyrings/_hpke.ts";
import { assertEquals } from "../support/assert.ts";

const V = JSON.parse(
  await Deno.readTextFile(
    new URL("../vectors/hpke_rfc9180_a1_1_x25519_sha256.json", import.meta.url),
  ),
);
const hex = (s: string) => Uint8Array.fromHex(s);
const toHex = (b: ArrayBuffer | Uint8Array) => new Uint8Array(b).toHex();

async function pairs(suite: ReturnType<typeof hpkeSuite>) {
  const e = await suite.kem.deriveKeyPair(hex(V.ikmE).buffer);
  const r = await suite.kem.deriveKeyPair(hex(V.ikmR).buffer);
  return { e, r };
}

Deno.test("RFC 9180 A.1.1: DeriveKeyPair gives the published key pairs", async () => {
  const suite = hpkeSuite("aes-128-gcm");
  const { e, r } = await pairs(suite);
  assertEquals(toHex(await suite.kem.serializePublicKey(e.publicKey)), V.pkEm);
  assertEquals(toHex(await suite.kem.serializePrivateKey(e.privateKey)), V.skEm);
  assertEquals(toHex(await suite.kem.serializePublicKey(r.publicKey)), V.pkRm);
  assertEquals(toHex(await suite.kem.serializePrivateKey(r.privateKey)), V.skRm);
});

Deno.test("RFC 9180 A.1.1: base-mode encryptions and exports, sender and recipient", async () => {
  const suite = hpkeSuite("aes-128-gcm");
  const { e, r } = await pairs(suite);
  const info = hex(V.info).buffer;
  const sender = await suite.createSenderContext({ recipientPublicKey: r.publicKey, info, ekm: e });
  assertEquals(toHex(sender.enc), V.enc);
  const recipient = await suite.createRecipientContext({
    recipientKey: r,
    enc: hex(V.enc).buffer,
    info,
  });
  const wanted = new Map<number, Record<string, string>>(
    V.encryptions.map((x: Record<string, string> & { seq: number }) => [x.seq, x]),
  );
  let checked = 0;
  for (let seq = 0; seq <= 256; seq++) {
    const v = wanted.get(seq);
    const pt = v ? hex(v.pt) : new Uint8Array([seq & 0xff]);
    const aad = v ? hex(v.aad) : new Uint8Array();
    const ct = await sender.seal(pt.buffer, aad.buffer);
    const back = await recipient.open(ct, aad.buffer);
    assertEquals(toHex(back), toHex(pt));
    if (v) {
      assertEquals(toHex(ct), v.ct, `sequence ${seq}`);
      checked++;
    }
  }
  assertEquals(checked, V.encryptions.length);
  for (const x of V.exports) {
    assertEquals(toHex(await sender.export(hex(x.exporter_context).buffer, x.L)), x.exported_value);
    assertEquals(
      toHex(await recipient.export(hex(x.exporter_context).buffer, x.L)),
      x.exported_value,
    );
  }
});

// RFC 9180 §4 / §5.1, written out independently of @hpke/core.
function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
  const enc = new TextEncoder();
  const labeled = new Uint8Array([
    ...enc.encode("HPKE-v1"),
    ...suiteId,
    ...enc.encode(label),
    ...ikm,
  ]);
  // HKDF-Extract is HMAC(salt, ikm); an empty salt is HashLen zero bytes (RFC 5869).
  return new Uint8Array(
    createHmac("sha256", salt.length ? salt : new Uint8Array(32)).update(labeled).digest(),
  );
}

async function hmacExpand(prk: Uint8Array<ArrayBuffer>, info: Uint8Array, length: number) {
  // HKDF-Expand alone (node's hkdfSync always extracts first).
  const key = await crypto.subtle.importKey("raw", prk, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  let t = new Uint8Array();
  const out: number[] = [];
  for (let i = 1; out.length < length; i++) {
    t = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, new Uint8Array([...t, ...info, i])),
    );
    out.push(...t);
  }
  return new Uint8Array(out.slice(0, length));
}

async function labeledExpand(
  suiteId: Uint8Array,
  prk: Uint8Array<ArrayBuffer>,
  label: string,
  info: Uint8Array,
  length: number,
) {
  const enc = new TextEncoder();
  const labeled = new Uint8Array([
    length >> 8,
    length & 0xff,
    ...enc.encode("HPKE-v1"),
    ...suiteId,
    ...enc.encode(label),
    ...info,
  ]);
  return await hmacExpand(prk, labeled, length);
}

Deno.test("the AES-256-GCM suite's key schedule matches an independent RFC 9180 computation", async () => {
  // Same KEM output as A.1.1 (the KEM does not depend on the AEAD); suite id with aead_id 2.
  const suiteId = new Uint8Array([...new TextEncoder().encode("HPKE"), 0, 0x20, 0, 1, 0, 2]);
  const info = hex(V.info);
  const pskIdHash = labeledExtract(suiteId, new Uint8Array(), "psk_id_hash", new Uint8Array());
  const infoHash = labeledExtract(suiteId, new Uint8Array(), "info_hash", info);
  const context = new Uint8Array([0, ...pskIdHash, ...infoHash]);
  const secret = labeledExtract(suiteId, hex(V.shared_secret), "secret", new Uint8Array());
  const key = await labeledExpand(suiteId, secret, "key", context, 32);
  const baseNonce = await labeledExpand(suiteId, secret, "base_nonce", context, 12);
  // Sanity: the same code with aead_id 1 reproduces the RFC's key and nonce.
  const suiteId1 = suiteId.slice();
  suiteId1[9] = 1;
  const secret1 = labeledExtract(suiteId1, hex(V.shared_secret), "secret", new Uint8Array());
  const ctx1 = new Uint8Array([
    0,
    ...labeledExtract(suiteId1, new Uint8Array(), "psk_id_hash", new Uint8Array()),
    ...labeledExtract(suiteId1, new Uint8Array(), "info_hash", info),
  ]);
  assertEquals(toHex(ctx1), V.key_schedule_context);
  assertEquals(toHex(secret1), V.secret);
  assertEquals(toHex(await labeledExpand(suiteId1, secret1, "key", ctx1, 16)), V.key);

  const pt = hex(V.encryptions[0].pt);
  const aad = hex(V.encryptions[0].aad);
  const cipher = createCipheriv("aes-256-gcm", key, baseNonce);
  cipher.setAAD(aad);
  const expected = new Uint8Array([
    ...cipher.update(pt),
    ...cipher.final(),
    ...cipher.getAuthTag(),
  ]);

  const suite = hpkeSuite();
  const { e, r } = await pairs(suite);
  const sender = await suite.createSenderContext({
    recipientPublicKey: r.publicKey,
    info: info.buffer,
    ekm: e,
  });
  assertEquals(toHex(sender.enc), V.enc);
  assertEquals(toHex(await sender.seal(pt.buffer, aad.buffer)), toHex(expected));
});
