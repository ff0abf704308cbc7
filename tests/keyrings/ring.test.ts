/**
 * The keyring model without a server: seed 002's scenario (remove a member, keep history),
 * record signatures, rollback and history checks, documents and their bindings.
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  addMember,
  checkSuccessor,
  createRing,
  deriveMemberKey,
  documentRotation,
  groupKeyFor,
  KeyringError,
  openDocument,
  removeMember,
  type RingRecord,
  sealDocument,
  signRecord,
  verifyMemberKey,
  verifyRecord,
} from "../../lib/keyrings/mod.ts";
import { MEMBER_KEY_MESSAGE, memberKeyFromSignature } from "../../lib/keyrings/_hpke.ts";
import { signMemberKey } from "../../lib/keyrings/_member_key.ts";
import { parseRecord } from "../../lib/keyrings/_record.ts";
import { agentActorOmni, operatorOmniOf } from "../../lib/identity/mod.ts";
import { assert, assertEquals, assertNotEquals, assertRejects } from "../support/assert.ts";

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function actors() {
  const opAccount = privateKeyToAccount(generatePrivateKey());
  const operatorOmni = operatorOmniOf(opAccount.address);
  const op = {
    address: opAccount.address,
    signer: opAccount,
    memberKey: await deriveMemberKey(opAccount),
  };
  const agent = async (label: string) => {
    const account = privateKeyToAccount(generatePrivateKey());
    const key = await deriveMemberKey(account);
    return {
      account,
      key,
      omni: agentActorOmni(operatorOmni, label, 0),
      member: () => ({
        actor_omni: agentActorOmni(operatorOmni, label, 0),
        kem_public_key: key.publicKey,
      }),
    };
  };
  return { op, operatorOmni, a: await agent("a"), b: await agent("b"), c: await agent("c") };
}

Deno.test("member keys are deterministic: the same key signs the same message to the same X25519 key", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const k1 = await deriveMemberKey(account);
  const k2 = await memberKeyFromSignature(
    await account.signMessage({ message: MEMBER_KEY_MESSAGE }),
  );
  assertEquals(k1.publicKey.toHex(), k2.publicKey.toHex());
  const other = await deriveMemberKey(privateKeyToAccount(generatePrivateKey()));
  assertNotEquals(k1.publicKey.toHex(), other.publicKey.toHex());
});

Deno.test("seed 002: B with an empty cache reads doc1 through key_history and doc2; C cannot read doc2", async () => {
  const { op, operatorOmni, a, b, c } = await actors();
  let record = await createRing("team", op);
  for (const m of [a, b, c]) record = await addMember(record, m.member(), op);
  assertEquals(record.members.length, 4);
  assertEquals(record.rotation, 0);

  // doc1 at r0, written by A.
  const ctx1 = { operator_omni: operatorOmni, ring: "team", name: "doc1" };
  const gk0 = await groupKeyFor(record, 0, a.omni, a.key);
  const doc1 = await sealDocument(ctx1, 0, gk0, utf8.encode("shared secret at r0"));

  // Remove C → r1; the r0 entries are archived first.
  const r0 = record;
  record = await removeMember(record, c.omni, op);
  await verifyRecord(record, { expectOperator: operatorOmni });
  checkSuccessor(r0, record, true);
  assertEquals(record.rotation, 1);
  assertEquals(record.key_history.length, 1);
  assertEquals(record.key_history[0].members, r0.members);
  assert(!record.members.some((m) => m.actor_omni === c.omni));

  const ctx2 = { ...ctx1, name: "doc2" };
  const gk1 = await groupKeyFor(record, 1, a.omni, a.key);
  const doc2 = await sealDocument(ctx2, 1, gk1, utf8.encode("shared secret at r1"));

  // B: nothing cached — re-derive the key from its device key, read the record, decrypt both.
  const bKey = await deriveMemberKey(b.account);
  const fresh = await verifyRecord(JSON.parse(JSON.stringify(record)), {
    expectOperator: operatorOmni,
  });
  const bGk = (r: number) => groupKeyFor(fresh, r, b.omni, bKey);
  assertEquals(text(await openDocument(ctx1, doc1, bGk)), "shared secret at r0");
  assertEquals(text(await openDocument(ctx2, doc2, bGk)), "shared secret at r1");

  // C, with the raw blob and the record: no entry at r1, and its r0 key does not open doc2.
  const cKey = await deriveMemberKey(c.account);
  await assertRejects(() => groupKeyFor(record, 1, c.omni, cKey), KeyringError, "no group key");
  const cGk0 = await groupKeyFor(record, 0, c.omni, cKey); // what it could always read
  await assertRejects(() => openDocument(ctx2, doc2, () => Promise.resolve(cGk0)), KeyringError);
  // Relabelling doc2 as rotation 0 breaks both AADs.
  const forged = doc2.slice();
  new DataView(forged.buffer).setUint32(4, 0);
  await assertRejects(() => openDocument(ctx2, forged, () => Promise.resolve(cGk0)), KeyringError);
  // Another member's wrapped key does not open with C's key either.
  const bEntry = record.members.find((m) => m.actor_omni === b.omni)!;
  const stolen = { ...record, members: [...record.members, { ...bEntry, actor_omni: c.omni }] };
  await assertRejects(() => groupKeyFor(stolen, 1, c.omni, cKey), KeyringError, "does not open");
});

Deno.test("add --with-history gives a new member the earlier group keys; without it, only the current one", async () => {
  const { op, operatorOmni, a, b, c } = await actors();
  let record = await createRing("hist", op);
  record = await addMember(record, a.member(), op);
  const gk0 = await groupKeyFor(record, 0, a.omni, a.key);
  const old = await sealDocument(
    { operator_omni: operatorOmni, ring: "hist", name: "old" },
    0,
    gk0,
    utf8.encode("r0"),
  );
  record = await removeMember(record, a.omni, op);
  const withHistory = await addMember(record, b.member(), op, { withHistory: true });
  checkSuccessor(record, withHistory, true);
  await verifyRecord(withHistory);
  const bGk = (r: number) => groupKeyFor(withHistory, r, b.omni, b.key);
  assertEquals(
    text(await openDocument({ operator_omni: operatorOmni, ring: "hist", name: "old" }, old, bGk)),
    "r0",
  );
  const without = await addMember(record, c.member(), op);
  await assertRejects(() => groupKeyFor(without, 0, c.omni, c.key), KeyringError, "no group key");
  await groupKeyFor(without, 1, c.omni, c.key);
});

Deno.test("records: another signer, a lower version or rotation, a dropped history are refused", async () => {
  const { op, a, c } = await actors();
  let record = await createRing("team", op);
  record = await addMember(record, a.member(), op);
  record = await addMember(record, c.member(), op);
  const r1 = await removeMember(record, c.omni, op);

  // Signed by someone else (the service, an agent): the signature names another address.
  const mallory = privateKeyToAccount(generatePrivateKey());
  const { signature: _, ...unsigned } = r1;
  const forged = await signRecord({ ...unsigned, members: record.members }, mallory);
  await assertRejects(() => verifyRecord(forged), KeyringError, "not signed by its operator");
  // Tampered after signing (C put back): the signature no longer matches.
  await assertRejects(
    () => verifyRecord({ ...r1, members: record.members }),
    KeyringError,
    "not signed by its operator",
  );
  // Replay of the older record to a member that saw r1.
  let err = (() => {
    try {
      checkSuccessor(r1, record);
    } catch (e) {
      return e as KeyringError;
    }
  })();
  assertEquals(err?.code, "record_rollback");
  // History removed, even re-signed by the operator: refused by shape (0..rotation-1 required).
  const dropped = await signRecord({ ...unsigned, key_history: [] }, op.signer);
  await assertRejects(() => verifyRecord(dropped), KeyringError, "history was removed");
  // History altered (an archived entry dropped), re-signed: refused against the previous record.
  const r2 = await removeMember(await addMember(r1, c.member(), op), c.omni, op);
  const altered = await signRecord({
    ...(({ signature: _s, ...rest }) => rest)(r2),
    key_history: [{ rotation: 0, members: [r2.key_history[0].members[0]] }, r2.key_history[1]],
  }, op.signer);
  await verifyRecord(altered); // well-formed and signed …
  err = (() => {
    try {
      checkSuccessor(r1, altered);
    } catch (e) {
      return e as KeyringError;
    }
  })();
  assertEquals(err?.code, "record_invalid"); // … but it dropped history a member had seen
  // A removal that forgot to rotate (member dropped at the same rotation).
  const noRotate = await signRecord({
    ...unsigned,
    version: record.version + 1,
    rotation: record.rotation,
    key_history: [],
    members: record.members.filter((m) => m.actor_omni !== c.omni),
  }, op.signer);
  err = (() => {
    try {
      checkSuccessor(record, noRotate, true);
    } catch (e) {
      return e as KeyringError;
    }
  })();
  assertEquals(err?.code, "record_invalid");
});

Deno.test("records: malformed input is refused with record_invalid", () => {
  const base = {
    v: 1,
    ring: "team",
    operator_address: "0x" + "11".repeat(20),
    operator_omni: operatorOmniOf("0x" + "11".repeat(20)),
    version: 1,
    rotation: 0,
    members: [{
      actor_omni: operatorOmniOf("0x" + "11".repeat(20)),
      kem_public_key: new Uint8Array(32).toBase64(),
      wrapped_group_key: new Uint8Array(80).toBase64(),
    }],
    key_history: [],
    signature: "0x" + "00".repeat(65),
  };
  parseRecord(base);
  const cases: Record<string, unknown>[] = [
    { v: 2 },
    { ring: "../x" },
    { ring: "Team" },
    { operator_address: "0xABC" },
    { operator_omni: "0x" + "22".repeat(32) },
    { version: 0 },
    { rotation: -1 },
    { rotation: 1 },
    { members: [] },
    { members: "x" },
    { members: [{ ...base.members[0], kem_public_key: "AAAA" }] },
    { members: [{ ...base.members[0], actor_omni: "0x12" }] },
    { members: [base.members[0], base.members[0]] },
    { signature: "0x1234" },
  ];
  for (const patch of cases) {
    let code = "";
    try {
      parseRecord({ ...base, ...patch });
    } catch (e) {
      code = (e as KeyringError).code;
    }
    assertEquals(code, "record_invalid", JSON.stringify(patch));
  }
  for (const v of [null, [], "x", 1]) {
    let code = "";
    try {
      parseRecord(v);
    } catch (e) {
      code = (e as KeyringError).code;
    }
    assertEquals(code, "record_invalid");
  }
});

Deno.test("documents: bound to operator, ring and name; not a document is document_invalid", async () => {
  const gk = crypto.getRandomValues(new Uint8Array(32));
  const ctx = { operator_omni: "0x" + "ab".repeat(32), ring: "team", name: "n" };
  const doc = await sealDocument(ctx, 3, gk, utf8.encode("x"));
  assertEquals(documentRotation(doc), 3);
  const get = () => Promise.resolve(gk);
  assertEquals(text(await openDocument(ctx, doc, get)), "x");
  for (
    const other of [{ ...ctx, name: "m" }, { ...ctx, ring: "other" }, {
      ...ctx,
      operator_omni: "0x" + "cd".repeat(32),
    }]
  ) {
    await assertRejects(() => openDocument(other, doc, get), KeyringError);
  }
  const flipped = doc.slice();
  flipped[flipped.length - 1] ^= 1;
  await assertRejects(() => openDocument(ctx, flipped, get), KeyringError, "fails authentication");
  let code = "";
  try {
    documentRotation(new Uint8Array(10));
  } catch (e) {
    code = (e as KeyringError).code;
  }
  assertEquals(code, "document_invalid");
});

Deno.test("published member keys: verified signer, tampering refused", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const key = await deriveMemberKey(account);
  const omni = "0x" + "ab".repeat(32);
  const published = await signMemberKey(omni, key, account);
  const ok = await verifyMemberKey(JSON.parse(JSON.stringify(published)));
  assertEquals(ok.signer_address, account.address.toLowerCase());
  const otherKey = await deriveMemberKey(privateKeyToAccount(generatePrivateKey()));
  await assertRejects(
    () => verifyMemberKey({ ...published, kem_public_key: otherKey.publicKey.toBase64() }),
    KeyringError,
  );
  await assertRejects(
    () => verifyMemberKey({ ...published, actor_omni: "0x" + "cd".repeat(32) }),
    KeyringError,
  );
  await assertRejects(() => verifyMemberKey({ ...published, signature: "0x00" }), KeyringError);
});

// Types only: a RingRecord is what parseRecord returns.
const _typecheck: (r: RingRecord) => RingRecord = (r) => parseRecord(r);
