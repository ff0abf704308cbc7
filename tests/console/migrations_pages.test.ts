/**
 * The migrations pages in process (issue 13 in the console): signed-out and agent visitors go to
 * /login; the list and a job's log are server-rendered from `MigrationJobs` (what
 * `GET /v1/migrate/jobs` reads) with no inline code and never the legacy signer key; another
 * operator sees an empty list and the API's 403 for the job, an unknown job is the API's 404;
 * the page says how to start a job and offers no form for the key.
 */

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import type { TestService } from "../support/broker_harness.ts";
import { legacyBlob } from "../migrate/legacy_writer.ts";
import { CONTENT_SECURITY_POLICY } from "../../routes/console.tsx";
import { migrationSummary } from "../../routes/pages/migrations.tsx";
import type { MigrationJob } from "../../lib/migrate/mod.ts";

const page = (s: TestService, path: string, token?: string) =>
  s.request(`${PUBLIC_URL}${path}`, {
    headers: token ? { cookie: `agentkeys_session=${token}` } : {},
  });

/** No inline script, handler or style (the CSP would block them). */
function assertNoInlineCode(html: string) {
  for (const tag of html.matchAll(/<script\b[^>]*>/g)) {
    assertMatch(tag[0], /\bsrc="\/static\/build\/_client\.js"/);
  }
  assertEquals(/\son[a-z]+=/i.exec(html), null, "no inline handler");
  assertEquals(/\sstyle=/i.exec(html), null, "no inline style");
}

/** The job's events over the API, to its end (the job has finished then). */
async function follow(s: TestService, token: string, id: string): Promise<string> {
  const res = await s.request(`/v1/migrate/jobs/${id}/events`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assertEquals(res.status, 200);
  return await res.text();
}

Deno.test("migrations pages: list and log server-rendered, never the key; other operator empty and 403; unknown 404; refusals", async () => {
  await using s = await testService();
  const operator = newAccount();
  const signerKey = generatePrivateKey();
  const signer = privateKeyToAccount(signerKey);
  const wallet = operator.address.toLowerCase();
  for (const [service, version] of [["openai", 1], ["stripe", 2], ["slack", 1]] as const) {
    const blob = await legacyBlob(signer, wallet, service, version, `${service}-secret`);
    await s.store.put(blob.key, blob.bytes);
  }
  // One blob under another signer's key: `failed` with a reason, kept in the log.
  const foreign = await legacyBlob(
    privateKeyToAccount(generatePrivateKey()),
    wallet,
    "github",
    1,
    "gh-secret",
  );
  await s.store.put(foreign.key, foreign.bytes);
  const op = await s.loginOperator(operator);

  const empty = await page(s, "/migrations", op);
  assertEquals(empty.status, 200);
  const emptyHtml = await empty.text();
  assertMatch(emptyHtml, /No migration jobs yet/);
  assertMatch(emptyHtml, /<a href="\/migrations" aria-current="page">Migrations<\/a>/);
  assertMatch(
    emptyHtml,
    new RegExp(`--operator ${operator.address}`, "i"),
    "the command is filled in",
  );
  assert(!/<input|<textarea|<form/.test(emptyHtml), "no field for the legacy signer key");

  const started = await s.call("POST", "/v1/migrate/jobs", op, {
    operator: operator.address,
    legacy_signer_key: signerKey,
    dry_run: true,
  });
  assertEquals(started.status, 201, JSON.stringify(started.body));
  const id = started.body.job_id as string;
  await follow(s, op, id);

  const list = await page(s, "/migrations", op);
  assertEquals(list.status, 200);
  assertEquals(list.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  assertEquals(list.headers.get("cache-control"), "no-store");
  const listHtml = await list.text();
  assertMatch(listHtml, new RegExp(`<a href="/migrations/${id}"><code>${id}</code></a>`));
  assertMatch(listHtml, /<td>dry run<\/td>/);
  assertMatch(listHtml, /<span class="state failed">failed<\/span>/);
  assertMatch(listHtml, /3 would migrate, 1 failed/);
  assertNoInlineCode(listHtml);

  const one = await page(s, `/migrations/${id}`, op);
  assertEquals(one.status, 200);
  const html = await one.text();
  assertMatch(html, /data-island="JobLog"/);
  assertMatch(html, /data-job-state="failed"/, "the state before any script");
  assertMatch(html, /4 blobs done/);
  const rows = [...html.matchAll(/<tr data-event-id="(\d+)" data-outcome="([a-z-]+)"/g)]
    .map((m) => [Number(m[1]), m[2]]);
  assertEquals(rows.length, 4, "every blob row, rendered on the server");
  assertEquals(rows.map((r) => r[0]), [4, 3, 2, 1], "newest first");
  assertEquals(rows.filter((r) => r[1] === "would-migrate").length, 3);
  assertEquals(rows.filter((r) => r[1] === "failed").length, 1);
  assertMatch(html, /<td class="num" data-count="would_migrate">3<\/td>/);
  assertMatch(html, /<td class="nowrap">you \(operator\)<\/td>/);
  assertMatch(
    html,
    /<span class="outcome failed">failed<\/span><span class="muted"> \(legacy_auth_failed: /,
  );
  assertMatch(html, /<option value="conflict">conflict<\/option>/, "the migration outcomes");
  assert(!html.includes("Cancel job"), "a migration has no cancel");
  for (const text of [html, listHtml]) {
    assert(!text.includes(signerKey.slice(2)), "the legacy signer key is never in a page");
    assert(!text.includes(op), "nor the session");
  }
  assertNoInlineCode(html);

  // Another operator: an empty list, and the job answers as the API does.
  const stranger = await s.loginOperator(newAccount());
  const theirs = await (await page(s, "/migrations", stranger)).text();
  assertMatch(theirs, /No migration jobs yet/);
  assert(!theirs.includes(id), "another operator's job is not listed");
  const api = await s.call("GET", `/v1/migrate/jobs/${id}`, stranger);
  const peek = await page(s, `/migrations/${id}`, stranger);
  assertEquals([peek.status, api.status], [403, 403]);
  const peekHtml = await peek.text();
  assertMatch(peekHtml, /belongs to another operator/);
  assert(!peekHtml.includes("data-event-id"), "none of its rows");
  const unknown = crypto.randomUUID();
  const missingApi = await s.call("GET", `/v1/migrate/jobs/${unknown}`, op);
  const missing = await page(s, `/migrations/${unknown}`, op);
  assertEquals([missing.status, missingApi.status], [404, 404]);
  assertMatch(await missing.text(), /There is no migration job/);

  // Signed out, a bad cookie or an agent session: the sign-in page.
  const device = newAccount();
  s.identity.register(operator.address, "bot", device.address);
  const agent = await s.loginDevice(device);
  for (const path of ["/migrations", `/migrations/${id}`]) {
    for (const token of [undefined, "not-a-jwt", agent]) {
      const res = await page(s, path, token);
      assertEquals([res.status, res.headers.get("location")], [303, "/login"], path);
      await res.body?.cancel();
    }
  }
});

Deno.test("migrationSummary: counts that are not zero, the blobs so far while running", () => {
  const job = (over: Partial<MigrationJob>): MigrationJob => ({
    job_id: "j",
    state: "succeeded",
    operator_omni: "0x",
    params: { operator: "0xa", map: {}, dry_run: false, delete_legacy: true },
    started_at: "2026-01-01T00:00:00Z",
    last_event_id: 0,
    ...over,
  });
  const summary = {
    migrated: 5,
    would_migrate: 0,
    skipped: 2,
    conflict: 1,
    failed: 0,
    deleted: 5,
    state: "failed" as const,
  };
  assertEquals(
    migrationSummary(job({ summary })),
    "5 migrated, 2 skipped, 1 conflict, 5 legacy deleted",
  );
  assertEquals(
    migrationSummary(
      job({ summary: { ...summary, migrated: 0, skipped: 0, conflict: 0, deleted: 0 } }),
    ),
    "no legacy blob found",
  );
  assertEquals(
    migrationSummary(job({ state: "running", last_event_id: 1234 })),
    "1,234 blobs so far",
  );
  assertEquals(migrationSummary(job({ state: "failed" })), "", "an internal error: no counts");
});

Deno.test("migrations pages: an admin's mapped agent wallet is shown as the agent it moves to", async () => {
  const operator = newAccount();
  await using s = await testService({ admins: [operator.address] });
  s.identity.register(operator.address, "mail-bot", newAccount().address);
  const signerKey = generatePrivateKey();
  const signer = privateKeyToAccount(signerKey);
  // A checksummed (mixed-case) wallet in the request: the page must still find its rows.
  const agentWallet = newAccount().address;
  const blob = await legacyBlob(signer, agentWallet.toLowerCase(), "slack", 2, "slack-secret");
  await s.store.put(blob.key, blob.bytes);
  const op = await s.loginOperator(operator);
  const started = await s.call("POST", "/v1/migrate/jobs", op, {
    operator: operator.address,
    legacy_signer_key: signerKey,
    map: { [agentWallet]: "mail-bot" },
  });
  assertEquals(started.status, 201, JSON.stringify(started.body));
  const id = started.body.job_id as string;
  await follow(s, op, id);
  const html = await (await page(s, `/migrations/${id}`, op)).text();
  assertMatch(html, /<tr data-event-id="1" data-outcome="migrated">/);
  assertMatch(html, /<td class="nowrap">agent mail-bot<\/td>/);
  assertMatch(html, /<dt>Agent wallets<\/dt><dd><span><code>0x[0-9a-fA-F]{40}<\/code> → mail-bot/);
  assertMatch(html, /real; legacy objects kept/);
  const list = await (await page(s, "/migrations", op)).text();
  assertMatch(list, /<td>real<\/td>/);
  assertMatch(list, /1 migrated/);
});
