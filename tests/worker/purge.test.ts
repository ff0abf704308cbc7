/**
 * `POST /v1/agents/purge`: an operator deletes every blob of its own revoked agent; every
 * refusal path, and nothing of anyone else is touched.
 */

import { assertEquals } from "../support/assert.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";
import type { TestService } from "../support/broker_harness.ts";
import { FakeIdentity } from "../support/fake_identity.ts";
import { AgentPurger } from "../../lib/worker/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";

async function keys(s: TestService, prefix = "bots/"): Promise<string[]> {
  const out: string[] = [];
  for await (const item of s.store.list(prefix)) out.push(item.key);
  return out.sort();
}

async function setup() {
  const s = await testService();
  const operator = newAccount();
  const stranger = newAccount();
  const doomedDevice = newAccount();
  const doomed = s.identity.register(operator.address, "doomed", doomedDevice.address);
  const kept = s.identity.register(operator.address, "kept", newAccount().address);
  const foreign = s.identity.register(stranger.address, "foreign", newAccount().address);
  for (const a of [doomed, kept, foreign]) {
    s.identity.setScope(a.operatorOmni, a.actorOmni, ["openai"]);
  }
  const opToken = await s.loginOperator(operator);
  const strangerToken = await s.loginOperator(stranger);
  const agentToken = await s.loginDevice(doomedDevice);
  const write = async (token: string, owner: { operatorOmni: string }, actor: string) => {
    const grant = { operator_omni: owner.operatorOmni, actor_omni: actor };
    const cred = await s.call("POST", "/v1/cap/cred-store", token, { ...grant, service: "openai" });
    await s.call("POST", "/v1/cred/store", cred.body.cap as string, { plaintext_b64: b64("sk") });
    const mem = await s.call("POST", "/v1/cap/memory-put", token, { ...grant, namespace: "notes" });
    await s.call("POST", "/v1/memory/put", mem.body.cap as string, {
      namespace: "notes",
      name: "todo",
      plaintext_b64: b64("remember"),
    });
  };
  await write(opToken, doomed, doomed.actorOmni);
  await write(opToken, doomed, kept.actorOmni);
  await write(opToken, doomed, doomed.operatorOmni); // the operator's own
  await write(strangerToken, foreign, foreign.actorOmni);
  // No route writes inbound yet; the purge must take it too.
  const inbound = `bots/${doomed.actorOmni.slice(2)}/inbound/msg-1.enc`;
  await s.store.put(inbound, new Uint8Array(40));
  return { s, doomed, kept, foreign, opToken, strangerToken, agentToken };
}

const purge = (s: TestService, token: string | undefined, actor_omni: unknown) =>
  s.call("POST", "/v1/agents/purge", token, { actor_omni });

Deno.test("purge refusals: no session 401, agent session 403, bad omni 400, active agent 409, another operator's agent 403", async () => {
  const { s, doomed, foreign, opToken, strangerToken, agentToken } = await setup();
  await using _ = s;
  const before = await keys(s);
  const expect = async (
    r: Promise<{ status: number; body: Record<string, unknown> }>,
    status: number,
    error: string,
  ) => {
    const { status: got, body } = await r;
    assertEquals([got, body.error], [status, error], JSON.stringify(body));
  };
  await expect(purge(s, undefined, doomed.actorOmni), 401, "no_session");
  await expect(purge(s, agentToken, doomed.actorOmni), 403, "operator_only");
  await expect(purge(s, opToken, "0x12"), 400, "bad_request");
  await expect(purge(s, opToken, doomed.operatorOmni), 400, "bad_request");
  await expect(purge(s, opToken, doomed.actorOmni), 409, "agent_active");
  await expect(purge(s, opToken, foreign.actorOmni), 403, "other_operator");
  s.identity.revoke(doomed.deviceKeyHash);
  await expect(purge(s, strangerToken, doomed.actorOmni), 403, "other_operator");
  s.identity.revoke(foreign.deviceKeyHash);
  await expect(purge(s, opToken, foreign.actorOmni), 403, "other_operator");
  assertEquals(await keys(s), before, "no refusal deleted anything");
});

Deno.test("purge deletes every blob of the revoked agent (credentials, memory, inbound) and nothing else", async () => {
  const { s, doomed, opToken } = await setup();
  await using _ = s;
  const doomedPrefix = `bots/${doomed.actorOmni.slice(2)}/`;
  const all = await keys(s);
  const others = all.filter((k) => !k.startsWith(doomedPrefix));
  assertEquals((await keys(s, doomedPrefix)).length, 3);
  s.identity.revoke(doomed.deviceKeyHash);
  const r = await purge(s, opToken, doomed.actorOmni);
  assertEquals([r.status, r.body], [200, { deleted: 3 }]);
  assertEquals(await keys(s, doomedPrefix), []);
  assertEquals(await keys(s), others, "the kept agent, the operator and the stranger untouched");
  // Idempotent: a second purge finds nothing.
  assertEquals((await purge(s, opToken, doomed.actorOmni)).body, { deleted: 0 });
  const audited = [];
  for await (const e of s.audit.entries()) if (e.kind === "agent_purged") audited.push(e.data);
  assertEquals(audited.length, 2);
  assertEquals(
    [audited[0].actor_omni, audited[0].deleted, audited[0].complete],
    [doomed.actorOmni, 3, true],
  );
});

Deno.test("purge right after a revocation the reader's head has not seen yet: confirmed at the latest block, not refused", async () => {
  const live = new FakeIdentity();
  const operator = newAccount();
  const agent = live.register(operator.address, "stale", newAccount().address);
  // A reader one block behind: it answers from what it saw at its last sync.
  let seen = structuredClone(live.devices);
  let syncs = 0;
  const lagging = {
    agentsOf: (op: `0x${string}`) => live.agentsOf(op),
    getDevice: (hash: `0x${string}`) => Promise.resolve(seen.get(hash) ?? null),
    sync: () => {
      syncs++;
      seen = structuredClone(live.devices);
      return Promise.resolve();
    },
  };
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-purge-" });
  const store = new FsBlobStore(dir);
  try {
    await store.put(`bots/${agent.actorOmni.slice(2)}/credentials/openai.enc`, new Uint8Array(9));
    live.revoke(agent.deviceKeyHash);
    const purger = new AgentPurger({ store, identity: lagging });
    assertEquals(await purger.purge(agent.operatorOmni, agent.actorOmni), { deleted: 1 });
    assertEquals(syncs, 1);
    // An agent that is really active is still refused after the sync.
    const active = live.register(operator.address, "active", newAccount().address);
    seen = structuredClone(live.devices);
    const err = await purger.purge(active.operatorOmni, active.actorOmni).catch((e) => e);
    assertEquals((err as { code?: string }).code, "agent_active");
    assertEquals(syncs, 2);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
