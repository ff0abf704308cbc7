/**
 * Keyrings through the HTTP API and the worker (in-process service): seed 002's scenario, the
 * worker's refusal of removed members, the service's own keys against a document, compare-and-
 * swap on the record, and the refusals for bad input.
 */

import type { PrivateKeyAccount } from "viem/accounts";
import {
  documentRotation,
  groupKeyFor,
  KeyringError,
  KeyringMember,
  KeyringOperator,
  type KeyringTransport,
  openDocument,
  type RingRecord,
  signRecord,
} from "../../lib/keyrings/mod.ts";
import { openBlob } from "../../lib/worker/mod.ts";
import { keyringDocLocation, keyringRecordLocation } from "../../lib/worker/_layout.ts";
import { DATA_CLASSES } from "../../lib/crypto/mod.ts";
import { kekKeyBytes } from "../../lib/crypto/_kek.ts";
import { omniToHex } from "../../lib/identity/mod.ts";
import { openSecret } from "../../lib/crypto/_secretbox.ts";
import { KEYSTORE_SEAL_AAD } from "../../lib/signer/mod.ts";
import { keyringSealAad } from "../../lib/broker/mod.ts";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { newAccount, type TestService, testService } from "../support/broker_harness.ts";

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** An HTTP refusal as the transport reports it. */
class Refused extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`${code} (${status}): ${message}`);
  }
}

function transport(s: TestService, session: string): KeyringTransport {
  return {
    async call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
      const r = await s.call(method, path, token ?? session, body);
      if (r.status !== 200) {
        throw new Refused(r.status, r.body.error as string, r.body.message as string);
      }
      return r.body as T;
    },
  };
}

async function refusal(fn: () => Promise<unknown>): Promise<[number, string]> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Refused) return [err.status, err.code];
    if (err instanceof KeyringError) return [0, err.code];
    throw err;
  }
  throw new Error("not refused");
}

interface Agent {
  device: PrivateKeyAccount;
  omni: string;
  hash: string;
  session: string;
  member: KeyringMember;
}

async function team(labels = ["a", "b", "c"]) {
  const s = await testService();
  const wallet = newAccount();
  const opSession = await s.loginOperator(wallet);
  const op = await KeyringOperator.forWallet(transport(s, opSession), wallet);
  const agents: Record<string, Agent> = {};
  for (const label of labels) {
    const device = newAccount();
    const reg = s.identity.register(wallet.address, label, device.address);
    const session = await s.loginDevice(device);
    const member = await KeyringMember.open(
      transport(s, session),
      { operator_omni: reg.operatorOmni, actor_omni: reg.actorOmni },
      device,
    );
    await member.publishKey();
    agents[label] = { device, omni: reg.actorOmni, hash: reg.deviceKeyHash, session, member };
  }
  return { s, wallet, opSession, op, agents };
}

Deno.test("seed 002 through the API: remove C → r1; B with an empty cache reads doc1 and doc2; C is refused and cannot decrypt", async () => {
  const { s, op, agents: { a, b, c } } = await team();
  await using _ = s;
  await op.create("team");
  for (const m of [a, b, c]) await op.add("team", m.omni, { deviceKeyHash: m.hash });
  const put1 = await a.member.put("team", "doc1", utf8.encode("the r0 secret"));
  assertEquals(put1.rotation, 0);
  const r1 = await op.removeMember("team", c.omni);
  assertEquals([r1.rotation, r1.key_history.length], [1, 1]);
  const put2 = await a.member.put("team", "doc2", utf8.encode("the r1 secret"));
  assertEquals(put2.rotation, 1);

  // B with an empty cache: a new member object re-derives its key from the device key.
  const bFresh = await KeyringMember.open(transport(s, b.session), b.member.me, b.device);
  assertEquals(text(await bFresh.get("team", "doc1")), "the r0 secret"); // via key_history
  assertEquals(text(await bFresh.get("team", "doc2")), "the r1 secret");

  // The worker refuses C for every document of the ring, and the record too.
  for (const name of ["doc1", "doc2"]) {
    assertEquals(await refusal(() => c.member.get("team", name)), [403, "not_a_member"]);
  }
  assertEquals(await refusal(() => c.member.list("team")), [403, "not_a_member"]);
  assertEquals(
    await refusal(() => c.member.put("team", "doc3", utf8.encode("x"))),
    [403, "not_a_member"],
  );
  assertEquals(await refusal(() => c.member.record("team")), [403, "not_a_member"]);

  // C with the raw blob (even opened from its K3 envelope) and the record: nothing at r1.
  const opHex = omniToHex(r1.operator_omni);
  const loc = keyringDocLocation(opHex, "team", "doc2");
  const raw = await s.store.get(loc.key);
  const inner = new Uint8Array(openBlob(s.keystore, loc, raw!.body).plaintext);
  assertEquals(documentRotation(inner), 1);
  const ctx = { operator_omni: r1.operator_omni, ring: "team", name: "doc2" };
  await assertRejects(
    () => openDocument(ctx, inner, (r) => groupKeyFor(r1, r, c.omni, c.member.key)),
    KeyringError,
    "no group key",
  );
  const cGk0 = await groupKeyFor(r1, 0, c.omni, c.member.key); // what C could always read
  await assertRejects(() => openDocument(ctx, inner, () => Promise.resolve(cGk0)), KeyringError);
});

/**
 * Every key the service holds, as raw bytes: the seal key, each live K3 epoch key (unsealed from
 * the keystore file), the KEKs derived from them for every class and the given actors, and the
 * private scalars of K1 and K2 (unsealed from their files).
 */
async function serviceKeys(s: TestService, actorHexes: string[]): Promise<Uint8Array[]> {
  const unseal = async (file: string, aad: Uint8Array) =>
    JSON.parse(text(openSecret(
      s.sealKey,
      aad,
      Uint8Array.fromBase64(JSON.parse(await Deno.readTextFile(join(s.dir, file))).sealed),
    )));
  const keys: Uint8Array[] = [s.sealKey];
  const k3 = await unseal("ks.json", KEYSTORE_SEAL_AAD);
  for (const e of k3.epochs) {
    if (e.key === undefined) continue;
    keys.push(Uint8Array.fromBase64(e.key));
    for (const dataClass of DATA_CLASSES) {
      for (const hex of actorHexes) keys.push(kekKeyBytes(s.keystore.kek(e.epoch, dataClass, hex)));
    }
  }
  for (const purpose of ["k1", "k2"] as const) {
    const doc = await unseal(`${purpose}.json`, keyringSealAad(purpose));
    for (const k of doc.keys) {
      keys.push(Uint8Array.fromBase64(k.jwk.d, { alphabet: "base64url" }).slice(0, 32));
    }
  }
  return keys;
}

Deno.test("the service's own keys do not open a keyring document, and no group key or plaintext is stored", async () => {
  const { s, op, agents: { a } } = await team(["a"]);
  await using _ = s;
  await op.create("vault");
  const record = await op.add("vault", a.omni, { deviceKeyHash: a.hash });
  const secret = "sk-live-NEVER-SEEN-BY-THE-SERVICE";
  await a.member.put("vault", "api", utf8.encode(secret));
  const gk = await groupKeyFor(record, 0, a.omni, a.member.key);

  const opHex = omniToHex(record.operator_omni);
  const loc = keyringDocLocation(opHex, "vault", "api");
  const stored = await s.store.get(loc.key);
  // K3: everything the signer can derive for this blob (every live epoch, every data class).
  const inner = new Uint8Array(openBlob(s.keystore, loc, stored!.body).plaintext);
  const candidates = await serviceKeys(s, [opHex, omniToHex(a.omni)]);
  const ctx = { operator_omni: record.operator_omni, ring: "vault", name: "api" };
  for (const key of candidates) {
    await assertRejects(
      () => openDocument(ctx, inner, () => Promise.resolve(key.slice())),
      KeyringError,
    );
  }
  // The group key opens it (the test holds it, as a member does) — so the refusals above mean
  // something.
  assertEquals(text(await openDocument(ctx, inner, () => Promise.resolve(gk))), secret);

  // Nothing the service stores, once every envelope is opened, holds the plaintext or the GK.
  const needles = [secret, gk.toBase64(), gk.toHex()];
  for await (const info of s.store.list("bots/")) {
    const blob = await s.store.get(info.key);
    const { parseBlobKey } = await import("../../lib/worker/mod.ts");
    const where = parseBlobKey(info.key)!;
    const opened = text(openBlob(s.keystore, where, blob!.body).plaintext);
    for (const n of needles) assert(!opened.includes(n), `${info.key} holds a secret`);
    const bytes = openBlob(s.keystore, where, blob!.body).plaintext;
    assert(!bytes.toHex().includes(gk.toHex()), `${info.key} holds the group key bytes`);
  }
});

Deno.test("record updates: compare-and-swap on version, rotation never back, history kept, operator's signature only", async () => {
  const { s, wallet, opSession, op, agents: { a } } = await team(["a"]);
  await using _ = s;
  const r1 = await op.create("cas");
  const r2 = await op.add("cas", a.omni, { deviceKeyHash: a.hash });
  const put = (record: unknown) => s.call("PUT", "/v1/keyrings/cas", opSession, { record });
  // Replaying the older record, or skipping a version: 409.
  assertEquals((await put(r1)).body.error, "keyring_conflict");
  const { signature: _sig, ...unsigned } = r2;
  const skip = await signRecord({ ...unsigned, version: r2.version + 2 }, wallet);
  assertEquals((await put(skip)).body.error, "keyring_conflict");
  // Two writers from the same version: one wins, the other is a conflict.
  const r3 = await signRecord({ ...unsigned, version: r2.version + 1 }, wallet);
  const [x, y] = await Promise.all([put(r3), put(r3)]);
  assertEquals([x.status, y.status].sort(), [200, 409]);
  // Another signer (an agent's device key) for the operator's ring: 400 record_invalid.
  const { signature: _s3, ...u3 } = r3;
  const forged = await signRecord({ ...u3, version: r3.version + 1 }, a.device);
  assertEquals([(await put(forged)).status, (await put(forged)).body.error], [
    400,
    "record_invalid",
  ]);
  // History dropped (re-signed by the operator): 400.
  const r4 = await op.removeMember("cas", a.omni);
  const { signature: _s4, ...u4 } = r4;
  const dropped = await signRecord({ ...u4, version: r4.version + 1, key_history: [] }, wallet);
  assertEquals((await put(dropped)).body.error, "record_invalid");
  // Rotation back (a same-version-shaped r0 record with a higher version): 409 record_rollback.
  const back = await signRecord({ ...u3, version: r4.version + 1 }, wallet);
  assertEquals((await put(back)).body.error, "record_rollback");
  // Agents cannot update or create.
  const agentPut = await s.call("PUT", "/v1/keyrings/cas", a.session, { record: r4 });
  assertEquals([agentPut.status, agentPut.body.error], [403, "operator_only"]);
  // Members refuse a replayed older record once they saw a newer one.
  const seen = new Map<string, { version: number; rotation: number }>();
  const store = {
    get: (o: string, r: string) => Promise.resolve(seen.get(`${o}/${r}`)),
    set: (o: string, r: string, v: { version: number; rotation: number }) => {
      seen.set(`${o}/${r}`, v);
      return Promise.resolve();
    },
  };
  const opSeen = await KeyringOperator.forWallet(transport(s, opSession), wallet, store);
  await opSeen.record("cas");
  seen.set(`${r4.operator_omni}/cas`, { version: r4.version + 5, rotation: r4.rotation });
  assertEquals(await refusal(() => opSeen.record("cas")), [0, "record_rollback"]);
});

Deno.test("bad input: unknown ring, non-member, malformed record, oversized documents, name rules, stale rotation", async () => {
  const { s, opSession, op, agents: { a, b } } = await team(["a", "b"]);
  await using _ = s;
  await op.create("team");
  await op.add("team", a.omni, { deviceKeyHash: a.hash });
  // Unknown ring: for records and for documents.
  assertEquals(
    (await s.call("GET", "/v1/keyrings/nope", opSession)).body.error,
    "keyring_not_found",
  );
  assertEquals(await refusal(() => a.member.get("nope", "x")), [404, "keyring_not_found"]);
  // Non-member (B was never added).
  assertEquals(await refusal(() => b.member.get("team", "x")), [403, "not_a_member"]);
  assertEquals(await refusal(() => b.member.record("team")), [403, "not_a_member"]);
  // Malformed records.
  for (const record of [undefined, {}, { v: 1 }, "x", [1]]) {
    const r = await s.call("POST", "/v1/keyrings", opSession, { record });
    assertEquals([r.status, r.body.error], [400, "record_invalid"], JSON.stringify(record));
  }
  // A ring created twice.
  const again = await s.call("POST", "/v1/keyrings", opSession, {
    record: (await s.call("GET", "/v1/keyrings/team", opSession)).body.record,
  });
  assertEquals(again.body.error, "record_invalid"); // version 2 is not a new ring
  assertEquals(await refusal(() => op.create("team")), [409, "keyring_exists"]);
  // Review: a ring named like the member key's object collided with it on the fs store.
  const [, collides] = await refusal(() => op.create("member-key.enc"));
  assertEquals(collides, "record_invalid");
  // Name rules (ring in the cap, document name in the body).
  const badRing = await s.call("POST", "/v1/cap/keyring-get", a.session, {
    operator_omni: a.member.me.operator_omni,
    actor_omni: a.omni,
    ring: "../x",
  });
  assertEquals([badRing.status, badRing.body.error], [400, "bad_request"]);
  for (const name of ["../x", "A", "a/b", "", "x".repeat(65)]) {
    assertEquals(
      await refusal(() => a.member.put("team", name, utf8.encode("x"))),
      [400, "bad_request"],
      name,
    );
  }
  // Not a keyring document (the worker reads its header): 400.
  const cap = (await s.call("POST", "/v1/cap/keyring-put", a.session, {
    operator_omni: a.member.me.operator_omni,
    actor_omni: a.omni,
    ring: "team",
  })).body.cap as string;
  const junk = await s.call("POST", "/v1/keyring/put", cap, {
    name: "junk",
    document_b64: utf8.encode("plaintext!").toBase64(),
  });
  assertEquals([junk.status, junk.body.error], [400, "bad_request"]);
  // Oversized: 413 (the limit is 1 MiB in the harness).
  assertEquals(
    await refusal(() => a.member.put("team", "big", new Uint8Array(1024 * 1024 + 1))),
    [413, "too_large"],
  );
  // A document under a rotation that is no longer current: 409 rotation_stale.
  const before: RingRecord = await a.member.record("team");
  await op.add("team", b.omni, { deviceKeyHash: b.hash });
  await op.removeMember("team", b.omni);
  const gk0 = await groupKeyFor(before, 0, a.omni, a.member.key);
  const { sealDocument } = await import("../../lib/keyrings/mod.ts");
  const old = await sealDocument(
    { operator_omni: before.operator_omni, ring: "team", name: "late" },
    0,
    gk0,
    utf8.encode("x"),
  );
  const cap2 = (await s.call("POST", "/v1/cap/keyring-put", a.session, {
    operator_omni: a.member.me.operator_omni,
    actor_omni: a.omni,
    ring: "team",
  })).body.cap as string;
  const stale = await s.call("POST", "/v1/keyring/put", cap2, {
    name: "late",
    document_b64: old.toBase64(),
  });
  assertEquals([stale.status, stale.body.error], [409, "rotation_stale"]);
  // A member key signed by another key than the session's: 400.
  const mallory = newAccount();
  const { signMemberKey } = await import("../../lib/keyrings/_member_key.ts");
  const foreign = await signMemberKey(a.omni, a.member.key, mallory);
  const pub = await s.call("POST", "/v1/member-keys", a.session, { member_key: foreign });
  assertEquals([pub.status, pub.body.error], [400, "member_key_invalid"]);
  // Another operator's agent's key is not readable.
  const other = newAccount();
  const otherSession = await s.loginOperator(other);
  const peek = await s.call("GET", `/v1/member-keys/${a.omni}`, otherSession);
  assertEquals([peek.status, peek.body.error], [403, "other_operator"]);
});

Deno.test("documents: list, remove, whole-ring teardown by the operator; the blobs are keyring-class envelopes", async () => {
  const { s, opSession, op, agents: { a } } = await team(["a"]);
  await using _ = s;
  const r = await op.create("ops");
  await op.add("ops", a.omni, { deviceKeyHash: a.hash });
  await a.member.put("ops", "one", utf8.encode("1"));
  await op.put("ops", "two", utf8.encode("22"));
  const listed = await a.member.list("ops");
  assertEquals(listed.items.map((i) => i.name), ["one", "two"]);
  assertEquals(text(await op.get("ops", "one")), "1");
  assertEquals(await a.member.remove("ops", "one"), { deleted: 1 });
  // An agent cannot tear the whole ring down.
  const agentCap = (await s.call("POST", "/v1/cap/keyring-teardown", a.session, {
    operator_omni: r.operator_omni,
    actor_omni: a.omni,
    ring: "ops",
  })).body.cap as string;
  const denied = await s.call("POST", "/v1/keyring/teardown", agentCap, {});
  assertEquals([denied.status, denied.body.error], [403, "not_a_member"]);
  const opCap = (await s.call("POST", "/v1/cap/keyring-teardown", opSession, {
    operator_omni: r.operator_omni,
    actor_omni: r.operator_omni,
    ring: "ops",
  })).body.cap as string;
  const all = await s.call("POST", "/v1/keyring/teardown", opCap, {});
  assertEquals(all.body, { deleted: 2 }); // "two" and the record
  assertEquals(
    (await s.call("GET", "/v1/keyrings/ops", opSession)).body.error,
    "keyring_not_found",
  );
  // Record blobs are envelopes of the keyring class at the layout's key.
  const loc = keyringRecordLocation(omniToHex(r.operator_omni), "ops");
  assertEquals(await s.store.get(loc.key), null);
  assertEquals((await s.call("GET", "/v1/keyrings", opSession)).body, { rings: [] });
});

Deno.test("more refusals: agents on operator routes, oversized and mismatched records, missing keys and documents, wrong caps, replayed write caps", async () => {
  const { s, wallet, opSession, op, agents: { a } } = await team(["a"]);
  await using _ = s;
  const r1 = await op.create("more");
  const r2 = await op.add("more", a.omni, { deviceKeyHash: a.hash });
  const status = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await s.call(method, path, token, body);
    return [r.status, r.body.error];
  };
  // Agent sessions may not create rings or list them.
  assertEquals(await status("POST", "/v1/keyrings", a.session, { record: r1 }), [
    403,
    "operator_only",
  ]);
  assertEquals(await status("GET", "/v1/keyrings", a.session), [403, "operator_only"]);
  // A ring name that breaks the name rules, in the path.
  assertEquals(await status("GET", "/v1/keyrings/Bad..Name", opSession), [400, "bad_request"]);
  // Updating a ring that does not exist, or with a record naming another ring.
  const { signature: _sig, ...u2 } = r2;
  const next = await signRecord({ ...u2, version: r2.version + 1 }, wallet);
  assertEquals(await status("PUT", "/v1/keyrings/nope", opSession, { record: next }), [
    400,
    "record_invalid",
  ]);
  const renamed = await signRecord({ ...u2, ring: "other", version: r2.version + 1 }, wallet);
  assertEquals(await status("PUT", "/v1/keyrings/other", opSession, { record: renamed }), [
    404,
    "keyring_not_found",
  ]);
  // A record body over AGENTKEYS_MAX_KEYRING_BYTES (1 MiB in the harness): 413 before parsing.
  const huge = { record: { ...next, padding: "x".repeat(2 * 1024 * 1024) } };
  assertEquals((await status("PUT", "/v1/keyrings/more", opSession, huge))[0], 413);
  // Member keys: none published, a malformed omni, a malformed key.
  const other = s.identity.register(wallet.address, "quiet", newAccount().address);
  assertEquals(await status("GET", `/v1/member-keys/${other.actorOmni}`, opSession), [
    404,
    "member_key_not_found",
  ]);
  assertEquals(await status("GET", "/v1/member-keys/0x12", opSession), [400, "bad_request"]);
  assertEquals(
    await status("POST", "/v1/member-keys", a.session, { member_key: { actor_omni: a.omni } }),
    [400, "member_key_invalid"],
  );
  // A document that does not exist.
  assertEquals(await refusal(() => a.member.get("more", "absent")), [404, "not_found"]);
  // A memory cap on a keyring route, and a keyring cap on a memory route.
  const target = { operator_omni: r1.operator_omni, actor_omni: a.omni };
  const memCap = (await s.call("POST", "/v1/cap/memory-get", a.session, {
    ...target,
    namespace: "more",
  })).body.cap as string;
  assertEquals(await status("POST", "/v1/keyring/get", memCap, { name: "x" }), [
    403,
    "wrong_data_class",
  ]);
  const ringCap = (await s.call("POST", "/v1/cap/keyring-get", a.session, {
    ...target,
    ring: "more",
  })).body.cap as string;
  assertEquals(
    await status("POST", "/v1/memory/get", ringCap, { namespace: "more", name: "x" }),
    [403, "wrong_data_class"],
  );
  // A put cap is single-use.
  const putCap = (await s.call("POST", "/v1/cap/keyring-put", a.session, {
    ...target,
    ring: "more",
  })).body.cap as string;
  const gk = await groupKeyFor(r2, r2.rotation, a.omni, a.member.key);
  const { sealDocument } = await import("../../lib/keyrings/mod.ts");
  const doc = await sealDocument(
    { operator_omni: r2.operator_omni, ring: "more", name: "once" },
    r2.rotation,
    gk,
    utf8.encode("x"),
  );
  const body = { name: "once", document_b64: doc.toBase64() };
  assertEquals((await s.call("POST", "/v1/keyring/put", putCap, body)).status, 200);
  assertEquals(await status("POST", "/v1/keyring/put", putCap, body), [401, "cap_replayed"]);
  // No cap at all.
  assertEquals(await status("POST", "/v1/keyring/get", "", { name: "once" }), [401, "cap_invalid"]);
});
