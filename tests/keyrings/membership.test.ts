/**
 * The worker's membership check across two service processes sharing one store (two
 * `KeyringVault`s over the same bytes, a fake clock): a removal made through one process applies
 * there at once and in the other within MEMBERSHIP_CACHE_MS; an added member is never refused
 * because of a cached record.
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { CapClaims } from "../../lib/cap/mod.ts";
import {
  addMember,
  createRing,
  deriveMemberKey,
  KeyringError,
  removeMember,
  sealDocument,
} from "../../lib/keyrings/mod.ts";
import { KeyringVault, MEMBERSHIP_CACHE_MS } from "../../lib/worker/_keyring.ts";
import { agentActorOmni, operatorOmniOf } from "../../lib/identity/mod.ts";
import { PreconditionFailed } from "../../lib/store/mod.ts";
import { WorkerError } from "../../lib/worker/mod.ts";
import { assertEquals } from "../support/assert.ts";

/** Blobs by key with etags: what both processes see. */
function sharedStore() {
  const blobs = new Map<string, { body: Uint8Array; etag: string }>();
  let n = 0;
  return { blobs, nextEtag: () => `e${++n}` };
}

function vault(shared: ReturnType<typeof sharedStore>, clock: { now: number }) {
  return new KeyringVault({
    // The cap checks are the worker's; here the "token" is the claims themselves.
    authorize: (token) => Promise.resolve(token as CapClaims),
    consume: () => Promise.resolve(),
    read: (loc) => {
      const b = shared.blobs.get(loc.key);
      if (!b) return Promise.reject(new WorkerError("not_found", "none"));
      return Promise.resolve({ plaintext: b.body, epoch: 1, etag: b.etag });
    },
    seal: (loc, plaintext, _owner, put) => {
      const cur = shared.blobs.get(loc.key);
      if (put?.ifNoneMatch && cur) return Promise.reject(new PreconditionFailed(loc.key));
      if (put?.ifMatch && cur?.etag !== put.ifMatch) {
        return Promise.reject(new PreconditionFailed(loc.key));
      }
      const etag = shared.nextEtag();
      shared.blobs.set(loc.key, { body: plaintext.slice(), etag });
      return Promise.resolve({ epoch: 1, size: plaintext.length, etag });
    },
    guard: (fn) => fn(),
    store: {} as never,
    limit: 1 << 20,
    now: () => clock.now,
  });
}

Deno.test("membership: a removal applies at once in its process and within MEMBERSHIP_CACHE_MS in another", async () => {
  const wallet = privateKeyToAccount(generatePrivateKey());
  const operatorOmni = operatorOmniOf(wallet.address);
  const op = { address: wallet.address, signer: wallet, memberKey: await deriveMemberKey(wallet) };
  const cKey = await deriveMemberKey(privateKeyToAccount(generatePrivateKey()));
  const c = agentActorOmni(operatorOmni, "c", 0);
  const shared = sharedStore();
  const clock = { now: 1_000_000 };
  const a = vault(shared, clock);
  const b = vault(shared, clock);

  const r0 = await createRing("team", op);
  await a.create(operatorOmni, r0);
  const r1 = await addMember(r0, { actor_omni: c, kem_public_key: cKey.publicKey }, op);
  // B read the ring before C joined: C is still accepted by B (a "not a member" is re-read).
  const claims = (o: Partial<CapClaims> = {}) =>
    ({ operator_omni: operatorOmni, actor_omni: c, ring: "team", ...o }) as CapClaims;
  await b.read(operatorOmni, "team", operatorOmni);
  await a.update(operatorOmni, "team", r1);
  const gk = new Uint8Array(32);
  const doc = await sealDocument(
    { operator_omni: operatorOmni, ring: "team", name: "d" },
    0,
    gk,
    new Uint8Array(1),
  );
  await b.docPut(claims(), "d", doc);
  assertEquals((await b.docGet(claims(), "d")).document.length, doc.length);

  // A removes C: refused by A at once; B trusts its cached "member" for at most the bound.
  const r2 = await removeMember(r1, c, op);
  await a.update(operatorOmni, "team", r2);
  const refusal = async (v: KeyringVault) =>
    await v.docGet(claims(), "d").then(() => "served", (e) => (e as KeyringError).code);
  assertEquals(await refusal(a), "not_a_member");
  assertEquals(await refusal(b), "served"); // cached < MEMBERSHIP_CACHE_MS ago
  clock.now += MEMBERSHIP_CACHE_MS;
  assertEquals(await refusal(b), "not_a_member");
});
