/**
 * The epoch routes (API.md "Epochs and signer") over HTTP: the epoch table with censuses,
 * rotation with its chain record (and the 502 when the chain step fails), censuses by scope,
 * destruction behind the census guard, forced destruction, and the forward-secrecy bound: a
 * copy of a blob left under a destroyed epoch answers 410.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import type { AuditEntry } from "../../lib/state/mod.ts";
import { epochWorld, fetchCred, storeCred } from "./epochs_support.ts";

async function auditKinds(log: { entries(): AsyncIterable<AuditEntry> }): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of log.entries()) out.push(e);
  return out;
}

Deno.test("GET /v1/epochs: 401 without a session; the table, census nulls at first", async () => {
  await using w = await epochWorld();
  const none = await w.s.call("GET", "/v1/epochs");
  assertEquals([none.status, none.body.error], [401, "no_session"]);
  const bad = await w.s.call("GET", "/v1/epochs", "not-a-jwt");
  assertEquals([bad.status, bad.body.error], [401, "session_invalid"]);
  const r = await w.s.call("GET", "/v1/epochs", w.operator.token);
  assertEquals(r.status, 200);
  assertEquals(r.body.active, 1);
  const epochs = r.body.epochs as Record<string, unknown>[];
  assertEquals(epochs.map((e) => [e.epoch, e.state]), [[1, "active"]]);
  assertMatch(epochs[0].created_at as string, /^\d{4}-\d\d-\d\dT/);
  assertEquals(r.body.census, {
    taken_at: null,
    global: null,
    operator: null,
    operator_taken_at: null,
  });
  assertEquals(r.body.chain_pending, undefined, "chain gaps are for admins");
  const agent = await w.s.call("GET", "/v1/epochs", w.agent.token);
  assertEquals(agent.status, 200, "any session may read the table");
  const admin = await w.s.call("GET", "/v1/epochs", w.admin.token);
  assertEquals(admin.body.chain_pending, []);
});

Deno.test("rotate: admin only; recorded on chain; then GET /v1/epochs shows the states", async () => {
  await using w = await epochWorld();
  const none = await w.s.call("POST", "/v1/epochs/rotate");
  assertEquals(none.status, 401);
  for (const token of [w.operator.token, w.agent.token]) {
    const refused = await w.s.call("POST", "/v1/epochs/rotate", token);
    assertEquals([refused.status, refused.body.error], [403, "admin_only"]);
  }
  assertEquals(w.s.keystore.activeEpoch, 1, "a refusal changes nothing");
  const r = await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  assertEquals(r.status, 200);
  assertEquals(r.body, { active: 2, previous: 1, tx_hash: "0xadv2" });
  assertEquals(w.chain.state.epoch, 2);
  const view = await w.s.call("GET", "/v1/epochs", w.operator.token);
  assertEquals(view.body.active, 2);
  const epochs = view.body.epochs as Record<string, unknown>[];
  assertEquals(epochs.map((e) => [e.epoch, e.state]), [[1, "retiring"], [2, "active"]]);
  assert(typeof epochs[0].retired_at === "string");
  const audit = await auditKinds(w.s.epochs!.audit);
  assertEquals(audit.at(-1)?.kind, "epoch_rotated");
  assertEquals(audit.at(-1)?.data.chain, "recorded");
  assertEquals(audit.at(-1)?.data.by, w.admin.account.address.toLowerCase());
});

Deno.test("rotate: a failed chain step answers 502 chain_unrecorded with the keystore result", async () => {
  await using w = await epochWorld();
  w.chain.state.fail = true;
  const r = await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  assertEquals(r.status, 502);
  assertEquals(r.body.error, "chain_unrecorded");
  assertEquals([r.body.active, r.body.previous, r.body.pending], [2, 1, true]);
  assertEquals(r.body.reason, "recorder_failed");
  assertMatch(r.body.message as string, /do not retry/);
  assertEquals(w.s.keystore.activeEpoch, 2, "the keystore change stands");
  const view = await w.s.call("GET", "/v1/epochs", w.admin.token);
  const pending = view.body.chain_pending as Record<string, unknown>[];
  assertEquals(pending.map((p) => [p.kind, p.epoch, p.reason]), [[
    "advance_epoch",
    2,
    "recorder_failed",
  ]]);
  // A counter that moved elsewhere is a mismatch, not a success.
  w.chain.state.fail = false;
  w.chain.state.epoch = 10;
  const mismatch = await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  assertEquals(mismatch.status, 502);
  assertEquals([mismatch.body.reason, mismatch.body.chain_epoch], ["epoch_mismatch", 11]);
});

Deno.test("census: operator scope for everyone, global for admins; GET shows both", async () => {
  await using w = await epochWorld();
  await storeCred(w.s, w.operator.token, w.operator.omni, "openai", "sk-1");
  await storeCred(w.s, w.operator.token, w.operator.omni, "github", "gh-1", w.agent.omni);
  await storeCred(w.s, w.admin.token, w.admin.omni, "stripe", "sk-admin");
  assertEquals((await w.s.call("POST", "/v1/epochs/census")).status, 401);
  const agent = await w.s.call("POST", "/v1/epochs/census", w.agent.token, {});
  assertEquals([agent.status, agent.body.error], [403, "operator_only"]);

  // No body at all is fine: the operator's own census.
  const mine = await w.s.call("POST", "/v1/epochs/census", w.operator.token);
  assertEquals(mine.status, 200);
  const census = mine.body.census as Record<string, unknown>;
  assertEquals(census.operator, { "1": 2 }, "the operator and its chain-registered agent");
  assertEquals(census.global, null);
  assertEquals(census.scope, "operator");

  const refused = await w.s.call("POST", "/v1/epochs/census", w.operator.token, {
    scope: "global",
  });
  assertEquals([refused.status, refused.body.error], [403, "admin_only"]);
  const badScope = await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "x" });
  assertEquals([badScope.status, badScope.body.error], [400, "bad_request"]);

  const global = await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  assertEquals(global.status, 200);
  const g = global.body.census as Record<string, unknown>;
  assertEquals(g.global, { "1": 3 });
  assertEquals(g.operator, { "1": 1 }, "the admin's own operator");

  // The whole store's counts are the admin's; an operator sees only its own.
  const view = await w.s.call("GET", "/v1/epochs", w.operator.token);
  const c = view.body.census as Record<string, unknown>;
  assertEquals(c.global, null);
  assertEquals(c.taken_at, census.taken_at);
  assertEquals(c.operator, { "1": 2 });
  assertEquals(c.operator_taken_at, census.taken_at);
  const agentView = await w.s.call("GET", "/v1/epochs", w.agent.token);
  const a = agentView.body.census as Record<string, unknown>;
  assertEquals([agentView.status, a.global, a.operator], [200, null, { "1": 2 }]);
  const adminView = await w.s.call("GET", "/v1/epochs", w.admin.token);
  const ac = adminView.body.census as Record<string, unknown>;
  assertEquals([ac.global, ac.taken_at, ac.operator], [{ "1": 3 }, g.taken_at, { "1": 1 }]);
});

Deno.test("destroy: refusals with clear codes; epoch_in_use carries the counts", async () => {
  await using w = await epochWorld();
  await storeCred(w.s, w.operator.token, w.operator.omni, "openai", "sk-1");
  await storeCred(w.s, w.operator.token, w.operator.omni, "github", "gh-1");
  assertEquals((await w.s.call("POST", "/v1/epochs/1/destroy")).status, 401);
  const notAdmin = await w.s.call("POST", "/v1/epochs/1/destroy", w.operator.token, {});
  assertEquals([notAdmin.status, notAdmin.body.error], [403, "admin_only"]);
  const active = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([active.status, active.body.error], [409, "epoch_active"]);
  const unknown = await w.s.call("POST", "/v1/epochs/7/destroy", w.admin.token, {});
  assertEquals([unknown.status, unknown.body.error], [404, "epoch_not_found"]);
  for (const n of ["0", "x", "-1", "1.5"]) {
    const bad = await w.s.call("POST", `/v1/epochs/${n}/destroy`, w.admin.token, {});
    assertEquals([bad.status, bad.body.error], [400, "bad_request"], n);
  }
  const badForce = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {
    force: "yes",
  });
  assertEquals(badForce.status, 400);

  await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  const noCensus = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([noCensus.status, noCensus.body.error], [409, "epoch_in_use"]);
  assertEquals([noCensus.body.reason, noCensus.body.census], ["no_census", null]);

  const taken = await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  const inUse = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([inUse.status, inUse.body.error], [409, "epoch_in_use"]);
  assertEquals([inUse.body.epoch, inUse.body.reason, inUse.body.count], [1, "blobs_remain", 2]);
  assertEquals(inUse.body.census, {
    taken_at: (taken.body.census as Record<string, unknown>).taken_at,
    global: { "1": 2 },
  });
  assertMatch(inUse.body.message as string, /still holds 2 blob\(s\)/);
  assertEquals(w.s.keystore.stateOf(1), "retiring", "nothing was erased");
  const kinds = (await auditKinds(w.s.epochs!.audit)).map((e) => e.kind);
  assert(kinds.includes("epoch_destroy_refused"));
});

Deno.test("destroy after a zero census succeeds; a blob copy left under it then answers 410", async () => {
  await using w = await epochWorld();
  const { key } = await storeCred(w.s, w.operator.token, w.operator.omni, "openai", "sk-old");
  const harvested = (await w.s.store.get(key))!.body; // a copy someone kept (a backup, a thief)
  await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);

  // Move the operator's blobs with a job, then a census taken after that write proves 1 empty.
  const job = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    operator_omni: w.operator.omni,
    old_epoch: 1,
    new_epoch: 2,
    dry_run: false,
  });
  assertEquals(job.status, 201);
  const done = await w.s.epochs!.runner.wait(job.body.job_id as string);
  assertEquals([done.state, done.counts.reencrypted], ["succeeded", 1]);
  // A census started before the last write under epoch 1 would not do; this one starts after.
  const census = await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  assertEquals((census.body.census as Record<string, unknown>).global, { "2": 1 });

  const r = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, { force: false });
  assertEquals(r.status, 200);
  assertEquals([r.body.epoch, r.body.tx_hash, r.body.forced], [1, "0xdes1", false]);
  assertMatch(r.body.destroyed_at as string, /^\d{4}-/);
  // This world's seal key is supplied (not the embedded seal.key): the answer says it must be
  // retired for the bound to hold against keystore backups.
  assertEquals(r.body.seal_key, "supplied");
  assertMatch(r.body.warning as string, /AGENTKEYS_SEAL_KEY.*signer reseal/);
  assertEquals(w.chain.state.destroyed, [1]);
  const view = await w.s.call("GET", "/v1/epochs", w.operator.token);
  const epochs = view.body.epochs as Record<string, unknown>[];
  assertEquals(epochs.map((e) => [e.epoch, e.state]), [[1, "destroyed"], [2, "active"]]);
  assertEquals(epochs[0].destroyed_at, r.body.destroyed_at);
  const again = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([again.status, again.body.error], [409, "epoch_already_destroyed"]);

  // The live blob reads fine; the harvested epoch-1 copy is unreadable for good.
  const live = await fetchCred(w.s, w.operator.token, w.operator.omni, "openai");
  assertEquals([live.status, live.body.epoch], [200, 2]);
  await w.s.store.put(key, harvested);
  const gone = await fetchCred(w.s, w.operator.token, w.operator.omni, "openai");
  assertEquals([gone.status, gone.body.error], [410, "epoch_destroyed"]);
  const kinds = (await auditKinds(w.s.epochs!.audit)).map((e) => e.kind);
  assertEquals(kinds.slice(-2), ["epoch_destroyed", "epoch_destroyed_recorded"]);
});

Deno.test("destroy: a census older than the last write is refused; force is audited first", async () => {
  await using w = await epochWorld();
  await storeCred(w.s, w.operator.token, w.operator.omni, "openai", "sk-1");
  await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  // A write under epoch 1 after the census (a lazy re-wrap racing, say) makes it stale.
  await new Promise((r) => setTimeout(r, 5));
  await w.s.epochs!.ledger.recordWrite({ epoch: 1, actorOmni: w.operator.omni });
  const stale = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([stale.status, stale.body.reason], [409, "census_before_last_write"]);

  const forced = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, { force: true });
  assertEquals(forced.status, 200);
  assertEquals(forced.body.forced, true);
  const audit = await auditKinds(w.s.epochs!.audit);
  const kinds = audit.map((e) => e.kind);
  const at = kinds.indexOf("epoch_destroy_forced");
  assert(at >= 0 && kinds.indexOf("epoch_destroyed") > at, `forced first: ${kinds}`);
  assertEquals(audit[at].data.census_count, 1);
  assertEquals(audit[at].data.by, w.admin.account.address.toLowerCase());
});

Deno.test("destroy without a chain recorder: 502 chain_unrecorded, the key is still gone", async () => {
  await using w = await epochWorld({ recorder: null });
  const rotated = await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  assertEquals([rotated.status, rotated.body.reason], [502, "no_recorder"]);
  await w.s.call("POST", "/v1/epochs/census", w.admin.token, { scope: "global" });
  const r = await w.s.call("POST", "/v1/epochs/1/destroy", w.admin.token, {});
  assertEquals([r.status, r.body.error, r.body.pending], [502, "chain_unrecorded", true]);
  assertEquals(r.body.epoch, 1);
  assertEquals(w.s.keystore.stateOf(1), "destroyed");
  const pending = await w.s.epochs!.pending.list();
  assertEquals(pending.map((p) => [p.kind, p.epoch]), [["advance_epoch", 2], [
    "epoch_destroyed",
    1,
  ]]);
});

Deno.test("two rotations at once do not interleave their chain steps", async () => {
  await using w = await epochWorld();
  // The first transaction is slow: without the mutex the second would be mined first and each
  // rotation would find the counter at the other's epoch.
  w.chain.state.delays = [80, 0];
  const [a, b] = await Promise.all([
    w.s.call("POST", "/v1/epochs/rotate", w.admin.token),
    w.s.call("POST", "/v1/epochs/rotate", w.admin.token),
  ]);
  assertEquals([a.status, b.status], [200, 200]);
  assertEquals([a.body.active, b.body.active].sort(), [2, 3]);
  assertEquals(w.chain.state.epoch, 3);
});
