/**
 * The console's pages in process (routes/console.tsx): security headers, no inline script,
 * redirects for signed-out visitors and loopback aliases, static files (types, caching, no
 * traversal), and the overview's model.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import { ensureBundle } from "../support/bundle.ts";
import { CONTENT_SECURITY_POLICY } from "../../routes/console.tsx";
import { overviewModel } from "../../routes/pages/index.tsx";
import type { JobRecord } from "../../lib/state/mod.ts";

function assertSecurityHeaders(res: Response, what: string) {
  assertEquals(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, what);
  assertEquals(res.headers.get("x-content-type-options"), "nosniff", what);
  assertEquals(res.headers.get("referrer-policy"), "no-referrer", what);
}

/** No inline script, no inline event handler, no inline style: the CSP would block them. */
function assertNoInlineCode(html: string) {
  for (const tag of html.matchAll(/<script\b[^>]*>/g)) {
    assertMatch(tag[0], /\bsrc="\/static\/build\/_client\.js"/, "only the islands' entry");
  }
  assertEquals(/<script\b[^>]*>[^<]+<\/script>/.exec(html), null, "no inline script body");
  assertEquals(/\son[a-z]+=/i.exec(html), null, "no inline handler");
  assertEquals(/\sstyle=/i.exec(html), null, "no inline style");
}

Deno.test("console: /login is server-rendered with the SignIn island, strict CSP, the admin claim offered", async () => {
  await using s = await testService();
  const res = await s.request(`${PUBLIC_URL}/login`);
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("content-type") ?? "", /^text\/html/);
  assertEquals(res.headers.get("cache-control"), "no-store");
  assertSecurityHeaders(res, "/login");
  const html = await res.text();
  assert(html.startsWith("<!DOCTYPE html>"), html.slice(0, 40));
  assertMatch(html, /data-island="SignIn"/);
  assertMatch(html, /Connect wallet<\/button>/, "usable before the island hydrates");
  assertMatch(html, /<label for="claim-token">/, "a fresh install offers the claim");
  const props = /data-props="([^"]*)"/.exec(html)![1].replaceAll("&quot;", '"');
  assertEquals(JSON.parse(props), { chainId: 31337, rpcUrl: null, claimOpen: true });
  assertNoInlineCode(html);
});

Deno.test("console: no claim field once admins are configured", async () => {
  await using s = await testService({ admins: [newAccount().address.toLowerCase()] });
  const html = await (await s.request(`${PUBLIC_URL}/login`)).text();
  assert(!html.includes("claim-token"), "nothing to claim");
});

Deno.test("console: / without a valid operator session redirects to /login; with one it shows the overview", async () => {
  await using s = await testService({ epochs: true });
  for (const cookie of [undefined, "agentkeys_session=not-a-jwt"]) {
    const res = await s.request(`${PUBLIC_URL}/`, { headers: cookie ? { cookie } : {} });
    assertEquals([res.status, res.headers.get("location")], [303, "/login"], String(cookie));
    assertSecurityHeaders(res, "redirect");
  }
  // Pages read the cookie only: a bearer token is the API's.
  const bearer = await s.request(`${PUBLIC_URL}/`, {
    headers: { authorization: `Bearer ${await s.loginOperator(newAccount())}` },
  });
  assertEquals(bearer.status, 303, "a bearer token is not a page session");

  const jwt = await s.loginOperator(newAccount());
  const cookie = `agentkeys_session=${jwt}`;
  const res = await s.request(`${PUBLIC_URL}/`, { headers: { cookie } });
  assertEquals(res.status, 200);
  assertSecurityHeaders(res, "/");
  const html = await res.text();
  assertMatch(html, /Active epoch: <strong class="active-epoch">1<\/strong>/);
  assertMatch(html, /data-island="TakeCensus"/);
  assertMatch(html, /data-island="Logout"/);
  assertMatch(html, /No census yet/);
  assertMatch(html, /<span class="badge">operator<\/span>/);
  assert(!html.includes(jwt), "the session token is never in the page");
  assertNoInlineCode(html);

  const login = await s.request(`${PUBLIC_URL}/login`, { headers: { cookie } });
  assertEquals([login.status, login.headers.get("location")], [303, "/"], "signed in already");
});

Deno.test("console: a loopback alias of the public URL is redirected to it (SIWE names that origin)", async () => {
  await using s = await testService();
  const res = await s.request("http://localhost/login");
  assertEquals([res.status, res.headers.get("location")], [302, `${PUBLIC_URL}/login`]);
});

Deno.test("console: behind a TLS-terminating proxy (https public URL, http request) pages are served, not redirected", async () => {
  await using s = await testService({ publicUrl: "https://vault.example" });
  const res = await s.request("http://vault.example/login");
  assertEquals(res.status, 200);
  await res.body?.cancel();
});

Deno.test("console: static files have their types and caching; no traversal, dotfiles or unknown types", async () => {
  await ensureBundle();
  await using s = await testService();
  const css = await s.request(`${PUBLIC_URL}/static/console.css`);
  assertEquals(css.status, 200);
  assertEquals(css.headers.get("content-type"), "text/css; charset=utf-8");
  assertEquals(css.headers.get("cache-control"), "no-cache");
  assertSecurityHeaders(css, "css");
  await css.body?.cancel();
  const again = await s.request(`${PUBLIC_URL}/static/console.css`, {
    headers: { "if-none-match": css.headers.get("etag")! },
  });
  assertEquals(again.status, 304);

  const entry = await s.request(`${PUBLIC_URL}/static/build/_client.js`);
  assertEquals(entry.headers.get("content-type"), "text/javascript; charset=utf-8");
  assertEquals(entry.headers.get("cache-control"), "no-cache", "the fixed entry revalidates");
  const chunk = /import\("\.\/(SignIn-[A-Z0-9]{8}\.js)"\)/.exec(await entry.text())?.[1];
  assert(chunk, "the entry imports the SignIn chunk lazily");
  const hashed = await s.request(`${PUBLIC_URL}/static/build/${chunk}`);
  assertEquals(hashed.headers.get("cache-control"), "public, max-age=31536000, immutable");
  await hashed.body?.cancel();

  const icon = await s.request(`${PUBLIC_URL}/favicon.ico`);
  assertEquals([icon.status, icon.headers.get("content-type")], [200, "image/svg+xml"]);
  await icon.body?.cancel();

  for (
    const path of [
      "/static/../deno.json",
      "/static/%2e%2e/deno.json",
      "/static/build/.stamp",
      "/static/build/../../deno.json",
      "/static/nope.css",
      "/static/favicon.txt",
    ]
  ) {
    const res = await s.request(`${PUBLIC_URL}${path}`);
    assertEquals(res.status, 404, path);
    await res.body?.cancel();
  }
});

const EPOCHS = [
  { epoch: 1, state: "destroyed" as const, createdAt: "2026-01-01T00:00:00Z" },
  { epoch: 2, state: "retiring" as const, createdAt: "2026-02-01T00:00:00Z" },
  { epoch: 3, state: "active" as const, createdAt: "2026-03-01T00:00:00Z" },
];
const CENSUS = {
  taken_at: "2026-03-02T00:00:00Z",
  finished_at: "2026-03-02T00:00:01Z",
  scope: "global" as const,
  global: { "2": 40, "3": 2, destroyed: 1 },
};
const OWN = {
  taken_at: "2026-03-03T00:00:00Z",
  finished_at: "2026-03-03T00:00:01Z",
  scope: "operator" as const,
  operator: { "3": 5 },
};
const PENDING = [{
  kind: "advance_epoch" as const,
  epoch: 3,
  reason: "recorder_failed" as const,
  at: "2026-03-01T00:00:00Z",
}];

function job(state: JobRecord["state"], id: string): JobRecord {
  return {
    job_id: id,
    state,
    params: {
      operator_omni: "all",
      old_epoch: 2,
      new_epoch: 3,
      dry_run: false,
      concurrency: 4,
      classes: [],
    },
    counts: {} as JobRecord["counts"],
    started_at: "2026-03-01T00:00:00Z",
    ...(state === "failed" ? { error: "store_unavailable" } : {}),
    owner: {} as JobRecord["owner"],
    heartbeat_at: "2026-03-01T00:00:00Z",
    last_event_id: 0,
  };
}

Deno.test("overview model: admins see global counts, retiring-with-blobs, failed and aborted jobs, pending chain records", () => {
  const m = overviewModel({
    viewer: { address: "0xa", isAdmin: true },
    active: 3,
    epochs: EPOCHS,
    latestGlobal: CENSUS,
    latestOperator: OWN,
    pending: PENDING,
    jobs: [job("succeeded", "j1"), job("failed", "j2"), job("aborted", "j3"), job("running", "j4")],
  });
  assertEquals(m.epochs.map((e) => [e.epoch, e.blobs]), [[3, 2], [2, 40], [1, 0]]);
  assertEquals(m.census, { scope: "global", takenAt: CENSUS.taken_at, destroyed: 1 });
  assertEquals(m.warnings.map((w) => w.kind), [
    "retiring_with_blobs",
    "job_failed",
    "job_failed",
    "chain_pending",
  ]);
  assertMatch(m.warnings[0].text, /Epoch 2 is retiring but still holds 40 blobs/);
  assertMatch(m.warnings[1].text, /j2 .*failed \(store_unavailable\)/);
  assertMatch(m.warnings[2].text, /j3 .*was aborted/);
  assertMatch(m.warnings[3].text, /epoch 3 activated \(recorder_failed\)/);
});

Deno.test("overview model: operators see their own counts and no chain records; no census means no counts", () => {
  const m = overviewModel({
    viewer: { address: "0xb", isAdmin: false },
    active: 3,
    epochs: EPOCHS,
    latestGlobal: CENSUS,
    latestOperator: OWN,
    pending: PENDING,
    jobs: [],
  });
  assertEquals(m.epochs.map((e) => [e.epoch, e.blobs]), [[3, 5], [2, 0], [1, 0]]);
  assertEquals(m.census.takenAt, OWN.taken_at);
  assertEquals(m.warnings, [], "no retiring blobs of its own, chain records are the admin's");

  const none = overviewModel({
    viewer: { address: "0xb", isAdmin: false },
    active: 3,
    epochs: EPOCHS,
    latestGlobal: null,
    latestOperator: null,
    pending: [],
    jobs: [],
  });
  assertEquals(none.epochs.map((e) => e.blobs), [null, null, null]);
  assertEquals(none.census.takenAt, null);
});
