/**
 * Keyrings (issue 14): `deno run -A bench/keyrings.ts`.
 *
 * 1. A membership change on a ring of 100 members: removing one (a new group key wrapped to the
 *    99 others with HPKE, the record signed by the operator's wallet), and adding one, each timed
 *    alone (median of 7) and through the API (`PUT /v1/keyrings/:ring`, where the service also
 *    verifies the signature and the successor rules). Target: the removal ≤ 200 ms.
 * 2. A document get through the API (`POST /v1/keyring/get`, membership checked by the worker)
 *    against a plain credential fetch (`POST /v1/cred/fetch`) of the same stored size, both by an
 *    agent with a reusable fetch cap, alternating request by request in the same run (medians).
 *    Target: ≤ 1.2×. The members'
 *    own decryption (HPKE unwrap of the group key + two AES-GCM opens) is printed beside it.
 *
 * Runs the service in process (the HTTP app through `app.request`, fs store, fake chain).
 *
 * @module
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  addMember,
  checkSuccessor,
  createRing,
  deriveMemberKey,
  groupKeyFor,
  type MemberKey,
  openDocument,
  removeMember,
  type RingRecord,
  sealDocument,
  signRecord,
  verifyRecord,
} from "../lib/keyrings/mod.ts";
import { agentActorOmni, operatorOmniOf } from "../lib/identity/mod.ts";
import { newAccount, testService } from "../tests/support/broker_harness.ts";

const MEMBERS = 100;
const REMOVE_TARGET_MS = 200;
const GET_TARGET_RATIO = 1.2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(1)} ms`;
const us = (x: number) => `${(x * 1000).toFixed(0)} µs`;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

// ---- 1. membership change on 100 members -------------------------------------------------

const wallet = privateKeyToAccount(generatePrivateKey());
const operatorOmni = operatorOmniOf(wallet.address);
const op = { address: wallet.address, signer: wallet, memberKey: await deriveMemberKey(wallet) };
const agents: { omni: string; key: MemberKey }[] = [];
for (let i = 0; i < MEMBERS - 1; i++) {
  const key = await deriveMemberKey(privateKeyToAccount(generatePrivateKey()));
  agents.push({ omni: agentActorOmni(operatorOmni, `agent-${i}`, 0), key });
}
let ring = await createRing("bench", op);
for (const a of agents) {
  ring = await addMember(ring, { actor_omni: a.omni, kem_public_key: a.key.publicKey }, op);
}
if (ring.members.length !== MEMBERS) throw new Error("ring size");
const extra = await deriveMemberKey(privateKeyToAccount(generatePrivateKey()));
const extraMember = {
  actor_omni: agentActorOmni(operatorOmni, "extra", 0),
  kem_public_key: extra.publicKey,
};

const removals: number[] = [];
const adds: number[] = [];
const checks: number[] = [];
for (let i = 0; i < 7; i++) {
  const [tr, removed] = await timed(() => removeMember(ring, agents[i].omni, op));
  removals.push(tr);
  if (removed.members.length !== MEMBERS - 1) throw new Error("removal");
  const [ta] = await timed(() => addMember(ring, extraMember, op));
  adds.push(ta);
  // What the service (and a member) checks of the new record.
  const [tc] = await timed(async () => {
    const v = await verifyRecord(removed);
    checkSuccessor(ring, v, true);
  });
  checks.push(tc);
}
// The remaining members can open the new key (a correctness check of what was timed).
const after = await removeMember(ring, agents[0].omni, op);
await groupKeyFor(after, after.rotation, agents[1].omni, agents[1].key);

// ---- 2. through the API --------------------------------------------------------------------

await using s = await testService();
const opSession = await s.loginOperator(wallet);
const device = newAccount();
const reg = s.identity.register(wallet.address, "reader", device.address);
s.identity.setScope(reg.operatorOmni as `0x${string}`, reg.actorOmni as `0x${string}`, ["bench"]);
const agentSession = await s.loginDevice(device);
const readerKey = await deriveMemberKey(device);
const call = async (method: string, path: string, token: string, body?: unknown) => {
  const r = await s.call(method, path, token, body);
  if (r.status !== 200) throw new Error(`${path}: ${JSON.stringify(r.body)}`);
  return r.body;
};

// The 100-member ring through the API (the reader is one of them), then a removal by PUT.
let apiRing: RingRecord = await createRing("team", op);
await call("POST", "/v1/keyrings", opSession, { record: apiRing });
apiRing = await addMember(apiRing, {
  actor_omni: reg.actorOmni,
  kem_public_key: readerKey.publicKey,
}, op);
await call("PUT", "/v1/keyrings/team", opSession, { record: apiRing });
const version = apiRing.version;
for (const a of agents.slice(0, MEMBERS - 2)) {
  apiRing = await addMember(apiRing, { actor_omni: a.omni, kem_public_key: a.key.publicKey }, op);
}
// 98 additions as one update: the service takes one version step per update.
const { signature: _, ...unsigned } = apiRing;
apiRing = await signRecord({ ...unsigned, version: version + 1 }, wallet);
await call("PUT", "/v1/keyrings/team", opSession, { record: apiRing });
if (apiRing.members.length !== MEMBERS) throw new Error("api ring size");
const apiRemovals: number[] = [];
for (let i = 0; i < 5; i++) {
  const [t, next] = await timed(async () => {
    const next = await removeMember(apiRing, agents[i].omni, op);
    await call("PUT", "/v1/keyrings/team", opSession, { record: next });
    return next;
  });
  apiRemovals.push(t);
  apiRing = await addMember(next, {
    actor_omni: agents[i].omni,
    kem_public_key: agents[i].key.publicKey,
  }, op);
  await call("PUT", "/v1/keyrings/team", opSession, { record: apiRing });
}

interface GetRow {
  size: number;
  cred: number;
  keyring: number;
  decrypt: number;
}
const rows: GetRow[] = [];
// 60 KiB: the stored document (plaintext + 96) must fit the 64 KiB credential limit.
for (const size of [1024, 60 * 1024]) {
  const plaintext = crypto.getRandomValues(new Uint8Array(size));
  const gk = await groupKeyFor(apiRing, apiRing.rotation, reg.actorOmni, readerKey);
  const ctx = { operator_omni: operatorOmni, ring: "team", name: `doc-${size}` };
  const doc = await sealDocument(ctx, apiRing.rotation, gk, plaintext);
  const target = { operator_omni: reg.operatorOmni, actor_omni: reg.actorOmni };
  const putCap = await call("POST", "/v1/cap/keyring-put", agentSession, {
    ...target,
    ring: "team",
  });
  await call("POST", "/v1/keyring/put", putCap.cap as string, {
    name: ctx.name,
    document_b64: doc.toBase64(),
  });
  // The credential holds as many bytes as the stored document.
  const credBytes = doc.slice(); // random-looking bytes of the same length
  const storeCap = await call("POST", "/v1/cap/cred-store", agentSession, {
    ...target,
    service: "bench",
  });
  await call("POST", "/v1/cred/store", storeCap.cap as string, {
    plaintext_b64: credBytes.toBase64(),
  });
  const credCap =
    (await call("POST", "/v1/cap/cred-fetch", agentSession, { ...target, service: "bench" }))
      .cap as string;
  const docCap =
    (await call("POST", "/v1/cap/keyring-get", agentSession, { ...target, ring: "team" }))
      .cap as string;
  const credFetch = () => call("POST", "/v1/cred/fetch", credCap, {});
  const docGet = () => call("POST", "/v1/keyring/get", docCap, { name: ctx.name });
  for (let i = 0; i < 50; i++) {
    await credFetch();
    await docGet();
  }
  const n = size > 4096 ? 300 : 800;
  const credTimes: number[] = [];
  const docTimes: number[] = [];
  // One request of each, alternating which goes first; medians of single requests, so a load
  // spike from another process on the shared machine hits one sample, not a whole batch.
  for (let i = 0; i < n; i++) {
    const pair = i % 2 === 0
      ? [[credFetch, credTimes], [docGet, docTimes]] as const
      : [[docGet, docTimes], [credFetch, credTimes]] as const;
    for (const [fn, times] of pair) {
      const [t] = await timed(fn);
      times.push(t);
    }
  }
  const got = Uint8Array.fromBase64((await docGet()).document_b64 as string);
  const decrypts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const [t, opened] = await timed(async () =>
      await openDocument(ctx, got, (r) => groupKeyFor(apiRing, r, reg.actorOmni, readerKey))
    );
    if (opened.length !== size) throw new Error("decrypt");
    decrypts.push(t);
  }
  rows.push({
    size,
    cred: median(credTimes),
    keyring: median(docTimes),
    decrypt: median(decrypts),
  });
}

// ---- report --------------------------------------------------------------------------------

const removal = median(removals);
console.log(`## Keyrings (${new Date().toISOString()}, Deno ${Deno.version.deno})\n`);
console.log(
  `### Membership change on a ring of ${MEMBERS} members (median of ${removals.length})\n`,
);
console.log("| operation | time | target |");
console.log("|---|---|---|");
console.log(
  `| remove one: new group key wrapped to ${MEMBERS - 1}, record signed | ${
    ms(removal)
  } | ≤ ${REMOVE_TARGET_MS} ms: ${removal <= REMOVE_TARGET_MS ? "met" : "NOT met"} |`,
);
console.log(`| add one (unwrap GK, wrap for the new member, sign) | ${ms(median(adds))} | |`);
console.log(
  `| verify the new record + successor rules (service and members) | ${ms(median(checks))} | |`,
);
console.log(
  `| remove one through the API (PUT, service verifies and seals) | ${ms(median(apiRemovals))} | |`,
);
console.log("\n### Document get through the API vs a credential fetch of the same stored size\n");
console.log(
  "| stored bytes | cred fetch | keyring get | ratio (target ≤ 1.2) | member decrypt | ratio with decrypt |",
);
console.log("|---|---|---|---|---|---|");
let ok = removal <= REMOVE_TARGET_MS;
for (const r of rows) {
  const ratio = r.keyring / r.cred;
  ok &&= ratio <= GET_TARGET_RATIO;
  console.log(
    `| ${r.size + 96} | ${us(r.cred)} | ${us(r.keyring)} | ${ratio.toFixed(2)}× ${
      ratio <= GET_TARGET_RATIO ? "met" : "NOT met"
    } | ${us(r.decrypt)} | ${((r.keyring + r.decrypt) / r.cred).toFixed(2)}× |`,
  );
}
console.log(`\n${ok ? "all targets met" : "a target was NOT met"}`);
