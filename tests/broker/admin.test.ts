/**
 * Who is admin (ARCHITECTURE §12): `AGENTKEYS_ADMINS`, else whoever presents the install's
 * one-time admin claim token; signing in alone never makes anyone admin.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { AdminClaimFiles } from "../../lib/broker/mod.ts";
import { AdminPolicy } from "../../lib/broker/_admin.ts";
import { ADMIN_CLAIM_MARKER_FILE, ADMIN_CLAIM_TOKEN_FILE } from "../../lib/broker/_admin_claim.ts";
import { AdminClaimError } from "../../lib/broker/_errors.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { openHeadless } from "../../lib/epochs/mod.ts";
import { type AuditEntry, KvAuditLog } from "../../lib/state/mod.ts";
import { SESSION_COOKIE } from "../../routes/session.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import { tempDir } from "../support/tmp.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function auditEntries(log: KvAuditLog): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of log.entries()) out.push(e);
  return out;
}

Deno.test("admin: signing in to a fresh install makes nobody admin; a 0600 claim token waits", async () => {
  await using s = await testService();
  const first = await s.loginOperator(newAccount());
  const second = await s.loginOperator(newAccount());
  assertEquals((await s.call("GET", "/v1/operators/me", first)).body.is_admin, false);
  assertEquals((await s.call("GET", "/v1/operators/me", second)).body.is_admin, false);

  assertEquals(s.adminClaim.state, "created");
  const tokenPath = join(s.adminClaimDir, ADMIN_CLAIM_TOKEN_FILE);
  assertEquals((await Deno.stat(tokenPath)).mode! & 0o777, 0o600);
  const token = (await Deno.readTextFile(tokenPath)).trim();
  assertMatch(token, /^[0-9a-f]{64}$/, "256 random bits");
  assertEquals(s.adminClaim.state === "created" && s.adminClaim.token, token);
  const marker = JSON.parse(
    await Deno.readTextFile(join(s.adminClaimDir, ADMIN_CLAIM_MARKER_FILE)),
  );
  assert(typeof marker.created_at === "string" && marker.claimed_at === undefined);
});

Deno.test("admin: AGENTKEYS_ADMINS names exactly the admins; no claim token, claims refused", async () => {
  const listed = newAccount();
  await using s = await testService({ admins: [listed.address.toLowerCase()] });
  assertEquals(s.adminClaim.state, "configured");
  assert(!(await exists(join(s.adminClaimDir, ADMIN_CLAIM_TOKEN_FILE))), "no token file");
  assert(!(await exists(join(s.adminClaimDir, ADMIN_CLAIM_MARKER_FILE))), "no marker either");

  const stranger = await s.loginOperator(newAccount());
  const admin = await s.loginOperator(listed);
  assertEquals((await s.call("GET", "/v1/operators/me", stranger)).body.is_admin, false);
  assertEquals((await s.call("GET", "/v1/operators/me", admin)).body.is_admin, true);
  const claim = await s.call("POST", "/v1/auth/claim-admin", stranger, { token: "0".repeat(64) });
  assertEquals([claim.status, claim.body.error], [409, "admins_configured"]);
  assertEquals((await s.call("GET", "/v1/operators/me", stranger)).body.is_admin, false);
});

Deno.test("admin claim: the right token makes admin, erases the file, is audited; a second claim fails", async () => {
  await using s = await testService();
  if (s.adminClaim.state !== "created") throw new Error("no token");
  const token = s.adminClaim.token;
  const tokenPath = join(s.adminClaimDir, ADMIN_CLAIM_TOKEN_FILE);
  const alice = newAccount();
  const aliceToken = await s.loginOperator(alice);
  const claim = (session: string, body: unknown) =>
    s.call("POST", "/v1/auth/claim-admin", session, body);

  // Refusals first: none of them consumes the token.
  const wrong = await claim(aliceToken, { token: "f".repeat(64) });
  assertEquals([wrong.status, wrong.body.error], [403, "claim_invalid"]);
  const prefix = await claim(aliceToken, { token: token.slice(0, 32) });
  assertEquals([prefix.status, prefix.body.error], [403, "claim_invalid"]);
  const missing = await claim(aliceToken, {});
  assertEquals([missing.status, missing.body.error], [400, "bad_request"]);
  assertEquals((await claim("", { token })).status, 401);
  const operator = newAccount();
  const device = newAccount();
  s.identity.register(operator.address, "mail-bot", device.address);
  const agent = await claim(await s.loginDevice(device), { token });
  assertEquals([agent.status, agent.body.error], [403, "operator_only"]);
  const crossSite = await s.request("/v1/auth/claim-admin", {
    method: "POST",
    headers: {
      cookie: `${SESSION_COOKIE}=${aliceToken}`,
      origin: "http://127.0.0.1:3000",
      "content-type": "text/plain",
    },
    body: JSON.stringify({ token }),
  });
  assertEquals([crossSite.status, (await crossSite.json()).error], [403, "cross_origin"]);
  assertEquals((await s.call("GET", "/v1/operators/me", aliceToken)).body.is_admin, false);
  assert(await exists(tokenPath), "refusals leave the token");

  // The console's own origin, with the cookie.
  const ok = await s.request("/v1/auth/claim-admin", {
    method: "POST",
    headers: {
      cookie: `${SESSION_COOKIE}=${aliceToken}`,
      origin: PUBLIC_URL,
      "content-type": "application/json",
    },
    body: JSON.stringify({ token }),
  });
  const okBody = await ok.json();
  assertEquals([ok.status, okBody.address, okBody.is_admin], [
    200,
    alice.address.toLowerCase(),
    true,
  ]);
  assertEquals((await s.call("GET", "/v1/operators/me", aliceToken)).body.is_admin, true);
  assert(!(await exists(tokenPath)), "the token file is erased");
  const marker = JSON.parse(
    await Deno.readTextFile(join(s.adminClaimDir, ADMIN_CLAIM_MARKER_FILE)),
  );
  assertEquals([marker.address, typeof marker.claimed_at], [alice.address.toLowerCase(), "string"]);
  const audit = (await auditEntries(s.audit)).filter((e) => e.kind === "admin_claimed");
  assertEquals(audit.map((e) => e.data.by), [alice.address.toLowerCase()]);
  assert(!JSON.stringify(audit).includes(token), "the token never reaches the audit log");

  const bob = await s.loginOperator(newAccount());
  const again = await claim(bob, { token });
  assertEquals([again.status, again.body.error], [410, "claim_unavailable"]);
  assertEquals((await s.call("GET", "/v1/operators/me", bob)).body.is_admin, false);
  const aliceAgain = await claim(aliceToken, { token });
  assertEquals([aliceAgain.status, aliceAgain.body.error], [410, "claim_unavailable"]);
});

Deno.test("admin claim: two claims with the right token at once, exactly one wins", async () => {
  await using s = await testService();
  if (s.adminClaim.state !== "created") throw new Error("no token");
  const token = s.adminClaim.token;
  const a = await s.loginOperator(newAccount());
  const b = await s.loginOperator(newAccount());
  const results = await Promise.all(
    [a, b].map((t) => s.call("POST", "/v1/auth/claim-admin", t, { token })),
  );
  assertEquals(results.map((r) => r.status).sort(), [200, 410]);
  const admins = await Promise.all(
    [a, b].map(async (t) => (await s.call("GET", "/v1/operators/me", t)).body.is_admin),
  );
  assertEquals(admins.filter(Boolean).length, 1);
});

Deno.test("admin claim: KV lost after a claim, a restart makes no new token and nobody is admin", async () => {
  await using dir = await tempDir();
  const alice = newAccount().address.toLowerCase();
  const kvBefore = await Deno.openKv(":memory:");
  const before = new AdminPolicy({
    kv: kvBefore,
    configured: [],
    claim: new AdminClaimFiles(dir.path),
    audit: new KvAuditLog(kvBefore),
  });
  const status = await before.prepare();
  if (status.state !== "created") throw new Error(`expected a token, got ${status.state}`);
  await before.claim(alice, status.token);
  assert(await before.isAdmin(alice));
  kvBefore.close();

  // A fresh state.kv on the same data directory.
  const kvAfter = await Deno.openKv(":memory:");
  try {
    const after = new AdminPolicy({
      kv: kvAfter,
      configured: [],
      claim: new AdminClaimFiles(dir.path),
    });
    const restarted = await after.prepare();
    assertEquals(restarted.state, "claimed");
    assertEquals(restarted.state === "claimed" && restarted.recorded, false);
    assert(!(await exists(join(dir.path, ADMIN_CLAIM_TOKEN_FILE))), "no new token");
    assertEquals(await after.isAdmin(alice), false, "KV no longer knows the admin");
    const err = await after.claim(alice, status.token).catch((e) => e);
    assert(err instanceof AdminClaimError && err.code === "claim_unavailable", String(err));
    // Setting AGENTKEYS_ADMINS is the way back.
    const configured = new AdminPolicy({
      kv: kvAfter,
      configured: [alice],
      claim: new AdminClaimFiles(dir.path),
    });
    assert(await configured.isAdmin(alice));
  } finally {
    kvAfter.close();
  }
});

Deno.test("admin claim: a token file removed unclaimed is not replaced at the next start", async () => {
  await using dir = await tempDir();
  const kv = await Deno.openKv(":memory:");
  try {
    const policy = () =>
      new AdminPolicy({ kv, configured: [], claim: new AdminClaimFiles(dir.path) });
    assertEquals((await policy().prepare()).state, "created");
    assertEquals((await policy().prepare()).state, "pending", "a later start shows no value");
    await Deno.remove(join(dir.path, ADMIN_CLAIM_TOKEN_FILE));
    assertEquals((await policy().prepare()).state, "lost");
    assert(!(await exists(join(dir.path, ADMIN_CLAIM_TOKEN_FILE))));
  } finally {
    kv.close();
  }
});

Deno.test("admin claim: headless commands open the data directory without creating a token", async () => {
  await using dir = await tempDir();
  const config = loadConfig({ AGENTKEYS_DATA_DIR: dir.path });
  const core = await openDataDir(config, { create: true });
  await core.close();
  const headless = await openHeadless(config);
  await headless.close();
  for (const file of [ADMIN_CLAIM_TOKEN_FILE, ADMIN_CLAIM_MARKER_FILE]) {
    assert(!(await exists(join(dir.path, file))), `${file} was created`);
  }
});

Deno.test("admin claim: claimOpen is read only, true only while a token waits unclaimed and no AGENTKEYS_ADMINS", async () => {
  await using dir = await tempDir();
  const kv = await Deno.openKv(":memory:");
  try {
    const policy = (configured: string[] = []) =>
      new AdminPolicy({ kv, configured, claim: new AdminClaimFiles(dir.path) });
    assertEquals(await policy().claimOpen(), false, "no token yet");
    assert(!(await exists(join(dir.path, ADMIN_CLAIM_TOKEN_FILE))), "asking creates none");
    const status = await policy().prepare();
    if (status.state !== "created") throw new Error(`expected a token, got ${status.state}`);
    assertEquals(await policy().claimOpen(), true);
    assertEquals(await policy(["0x" + "11".repeat(20)]).claimOpen(), false, "admins configured");
    assertEquals(await new AdminPolicy({ kv, configured: [] }).claimOpen(), false, "no files");
    await policy().claim(newAccount().address, status.token);
    assertEquals(await policy().claimOpen(), false, "claimed");
  } finally {
    kv.close();
  }
});
