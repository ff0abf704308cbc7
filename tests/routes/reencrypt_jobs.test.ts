/**
 * The re-encryption job routes (API.md "Re-encryption jobs") over HTTP: who may start and see
 * which jobs, every refusal with its status, cancel, and the event stream — live `blob` events
 * while the job still runs, `Last-Event-ID` replay (live and finished), the cookie session, and
 * a client that leaves mid-stream.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { SESSION_COOKIE } from "../../routes/session.ts";
import { EXIT, reencryptMain } from "../../lib/cli/mod.ts";
import { capture } from "../reencrypt/datadir.ts";
import { type EpochWorld, epochWorld, openEvents, storeCred } from "./epochs_support.ts";

const SERVICES = ["s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09"];

/** The operator has `n` credentials under epoch 1 (itself and its agent), then epoch 2. */
async function populated(n = SERVICES.length): Promise<EpochWorld> {
  const w = await epochWorld();
  w.s.identity.setScope(w.operator.omni as `0x${string}`, w.agent.omni as `0x${string}`, SERVICES);
  for (let i = 0; i < n; i++) {
    const actor = i % 2 === 0 ? w.operator.omni : w.agent.omni;
    await storeCred(w.s, w.operator.token, w.operator.omni, SERVICES[i], `v${i}`, actor);
  }
  await w.s.call("POST", "/v1/epochs/rotate", w.admin.token);
  return w;
}

/** Every put waits `ms` (the job's rewrites are slow; everything else is not). */
function slowPuts(w: EpochWorld, ms: number) {
  w.faulty.faults.beforePut = () => new Promise((r) => setTimeout(r, ms));
}

const jobBody = (w: EpochWorld, extra: Record<string, unknown> = {}) => ({
  operator_omni: w.operator.omni,
  old_epoch: 1,
  new_epoch: 2,
  dry_run: false,
  ...extra,
});

Deno.test("POST /v1/reencrypt/jobs: 201 with a job id; the job moves the operator's blobs", async () => {
  await using w = await populated(4);
  const r = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, jobBody(w));
  assertEquals(r.status, 201);
  assertMatch(r.body.job_id as string, /^rj_[0-9a-f]{20}$/);
  assertEquals(r.body.state, "running");
  assertEquals(r.body.owner, undefined, "internal fields stay internal");
  const done = await w.s.epochs!.runner.wait(r.body.job_id as string);
  assertEquals([done.state, done.counts.reencrypted], ["succeeded", 4]);
  const got = await w.s.call("GET", `/v1/reencrypt/jobs/${r.body.job_id}`, w.operator.token);
  assertEquals(got.status, 200);
  assertEquals(got.body.state, "succeeded");
  assertEquals((got.body.params as Record<string, unknown>).operator_omni, w.operator.omni);
  assertEquals((got.body.counts as Record<string, unknown>).reencrypted, 4);
  assert(typeof got.body.finished_at === "string");
  // An admin may start a job for any operator, and a dry run for everyone ("all").
  const all = await w.s.call("POST", "/v1/reencrypt/jobs", w.admin.token, {
    ...jobBody(w),
    operator_omni: "all",
    dry_run: true,
  });
  assertEquals(all.status, 201);
  await w.s.epochs!.runner.wait(all.body.job_id as string);
});

Deno.test("POST /v1/reencrypt/jobs refusals: 401, 403, 400", async () => {
  await using w = await populated(1);
  const call = (token: string | undefined, body: unknown) =>
    w.s.call("POST", "/v1/reencrypt/jobs", token, body);
  assertEquals((await call(undefined, jobBody(w))).status, 401);
  const agent = await call(w.agent.token, jobBody(w));
  assertEquals([agent.status, agent.body.error], [403, "operator_only"]);
  const other = await call(w.operator.token, { ...jobBody(w), operator_omni: w.admin.omni });
  assertEquals([other.status, other.body.error], [403, "other_operator"]);
  const all = await call(w.operator.token, { ...jobBody(w), operator_omni: "all" });
  assertEquals([all.status, all.body.error], [403, "admin_only"]);
  const bad: [Record<string, unknown>, string][] = [
    [{ ...jobBody(w), operator_omni: "0x1234" }, "bad_request"],
    [{ ...jobBody(w), old_epoch: "1" }, "bad_request"],
    [{ operator_omni: w.operator.omni, new_epoch: 2 }, "bad_request"],
    [{ ...jobBody(w), dry_run: "no" }, "bad_request"],
    [{ ...jobBody(w), classes: "credentials" }, "bad_request"],
    [{ ...jobBody(w), old_epoch: 2, new_epoch: 1 }, "invalid_params"],
    [{ ...jobBody(w), old_epoch: 1, new_epoch: 1 }, "invalid_params"],
    [{ ...jobBody(w), new_epoch: 9 }, "invalid_params"],
    [{ ...jobBody(w), concurrency: 0 }, "invalid_params"],
    [{ ...jobBody(w), classes: ["secrets"] }, "invalid_params"],
  ];
  for (const [body, code] of bad) {
    const r = await call(w.operator.token, body);
    assertEquals([r.status, r.body.error], [400, code], JSON.stringify(body));
  }
  const notJson = await w.s.request("/v1/reencrypt/jobs", {
    method: "POST",
    headers: { authorization: `Bearer ${w.operator.token}`, "content-type": "application/json" },
    body: "{",
  });
  assertEquals(notJson.status, 400);
  assertEquals((await w.s.epochs!.runner.list()).length, 0, "no refusal started a job");
});

Deno.test("409 job_running while the operator's job runs; cancel ends it", async () => {
  await using w = await populated();
  slowPuts(w, 40);
  const first = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    ...jobBody(w),
    concurrency: 1,
  });
  assertEquals(first.status, 201);
  const second = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, jobBody(w));
  assertEquals([second.status, second.body.error], [409, "job_running"]);
  assertEquals(second.body.job_id, first.body.job_id);
  const id = first.body.job_id as string;
  // An admin may cancel any operator's job (the owner may too; another operator may not,
  // see the visibility test).
  const cancelled = await w.s.call("POST", `/v1/reencrypt/jobs/${id}/cancel`, w.admin.token);
  assertEquals(cancelled.status, 200);
  assertEquals(cancelled.body.job_id, id);
  const done = await w.s.epochs!.runner.wait(id);
  assertEquals(done.state, "cancelled");
  assert(done.counts.reencrypted < SERVICES.length, "stopped early");
  const got = await w.s.call("GET", `/v1/reencrypt/jobs/${id}`, w.operator.token);
  assertEquals(got.body.state, "cancelled");
});

Deno.test("GET jobs: own jobs only (admin: all); 404 unknown, 403 another operator's", async () => {
  await using w = await populated(2);
  const mine = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, jobBody(w));
  await w.s.epochs!.runner.wait(mine.body.job_id as string);
  const theirs = await w.s.call("POST", "/v1/reencrypt/jobs", w.admin.token, {
    ...jobBody(w),
    operator_omni: w.admin.omni,
    dry_run: true,
  });
  await w.s.epochs!.runner.wait(theirs.body.job_id as string);

  assertEquals((await w.s.call("GET", "/v1/reencrypt/jobs")).status, 401);
  const agent = await w.s.call("GET", "/v1/reencrypt/jobs", w.agent.token);
  assertEquals([agent.status, agent.body.error], [403, "operator_only"]);
  const list = await w.s.call("GET", "/v1/reencrypt/jobs", w.operator.token);
  assertEquals(
    (list.body.jobs as Record<string, unknown>[]).map((j) => j.job_id),
    [mine.body.job_id],
  );
  const adminList = await w.s.call("GET", "/v1/reencrypt/jobs", w.admin.token);
  assertEquals(
    (adminList.body.jobs as Record<string, unknown>[]).map((j) => j.job_id),
    [theirs.body.job_id, mine.body.job_id],
    "most recent first",
  );

  const unknown = await w.s.call(
    "GET",
    "/v1/reencrypt/jobs/rj_000000000000deadbeef",
    w.operator.token,
  );
  assertEquals([unknown.status, unknown.body.error], [404, "not_found"]);
  const weird = await w.s.call("GET", "/v1/reencrypt/jobs/%2e%2e", w.operator.token);
  assertEquals(weird.status, 404);
  for (
    const path of [
      `/v1/reencrypt/jobs/${theirs.body.job_id}`,
      `/v1/reencrypt/jobs/${theirs.body.job_id}/events`,
    ]
  ) {
    const r = await w.s.call("GET", path, w.operator.token);
    assertEquals([r.status, r.body.error], [403, "other_operator"], path);
  }
  const cancel = await w.s.call(
    "POST",
    `/v1/reencrypt/jobs/${theirs.body.job_id}/cancel`,
    w.operator.token,
  );
  assertEquals([cancel.status, cancel.body.error], [403, "other_operator"]);
  const unknownEvents = await w.s.call(
    "GET",
    "/v1/reencrypt/jobs/rj_000000000000deadbeef/events",
    w.operator.token,
  );
  assertEquals(unknownEvents.status, 404, "a 404 before any stream starts");
  const noSession = await w.s.call("GET", `/v1/reencrypt/jobs/${mine.body.job_id}/events`);
  assertEquals(noSession.status, 401);
});

Deno.test("SSE: blob events arrive while the job still runs; Last-Event-ID resumes after it", async () => {
  await using w = await populated();
  slowPuts(w, 60);
  const started = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    ...jobBody(w),
    concurrency: 1,
  });
  const id = started.body.job_id as string;
  const auth = { authorization: `Bearer ${w.operator.token}` };
  const stream = await openEvents(w.s, `/v1/reencrypt/jobs/${id}/events`, auth);
  assertEquals(stream.response.status, 200);
  assertMatch(stream.response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const seen = [];
  let blob;
  while (!blob) {
    const m = await stream.next();
    assert(m !== null, "the stream ended before any blob event");
    seen.push(m);
    if (m.event === "blob") blob = m;
  }
  // The job is still running: the event came live, not from a replay at the end.
  const now = await w.s.call("GET", `/v1/reencrypt/jobs/${id}`, w.operator.token);
  assertEquals(now.body.state, "running");
  const data = JSON.parse(blob.data);
  assertEquals(data.outcome, "reencrypted");
  assertEquals(data.from_epoch, 1);
  assertMatch(data.key, /^bots\/[0-9a-f]{64}\/credentials\//);
  assertEquals(seen.map((m) => Number(m.id)), seen.map((_, i) => i + 1), "ids count from 1");
  // Read until we have three events, then reconnect as a browser would, with the third id.
  while (seen.length < 3) seen.push((await stream.next())!);
  await stream.close();
  const third = seen[2].id!;
  assertEquals(third, "3");
  const resumed = await openEvents(w.s, `/v1/reencrypt/jobs/${id}/events`, {
    ...auth,
    "last-event-id": third,
  });
  const first = await resumed.next();
  assertEquals(first?.id, "4");
  const rest = [first!, ...(await resumed.rest())];
  assertEquals(rest.map((m) => Number(m.id)), rest.map((_, i) => i + 4), "no gap, no repeat");
  assertEquals(rest.slice(-2).map((m) => m.event), ["summary", "end"]);
  const summary = JSON.parse(rest.at(-2)!.data);
  assertEquals([summary.state, summary.reencrypted], ["succeeded", SERVICES.length]);
  assertEquals(
    seen.filter((m) => m.event === "blob").length + rest.filter((m) => m.event === "blob").length,
    SERVICES.length,
  );
});

Deno.test("SSE: a finished job replays everything, ending summary then end; cookie session works", async () => {
  await using w = await populated(4);
  const started = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, jobBody(w));
  const id = started.body.job_id as string;
  await w.s.epochs!.runner.wait(id);
  // The console's EventSource sends the cookie, not a header.
  const cookie = { cookie: `${SESSION_COOKIE}=${w.operator.token}` };
  const full = await openEvents(w.s, `/v1/reencrypt/jobs/${id}/events`, cookie);
  assertEquals(full.response.status, 200);
  const all = await full.rest();
  assertEquals(all.map((m) => Number(m.id)), all.map((_, i) => i + 1));
  assertEquals(all.filter((m) => m.event === "blob").length, 4);
  assertEquals(all.slice(-2).map((m) => m.event), ["summary", "end"]);
  assertEquals(JSON.parse(all.at(-1)!.data), {});

  const from3 = await openEvents(w.s, `/v1/reencrypt/jobs/${id}/events`, {
    ...cookie,
    "last-event-id": "3",
  });
  const replay = await from3.rest();
  assertEquals(replay[0].id, "4");
  assertEquals(replay.map((m) => m.id), all.slice(3).map((m) => m.id));
  const bad = await w.s.request(`/v1/reencrypt/jobs/${id}/events`, {
    headers: { ...cookie, "last-event-id": "three" },
  });
  assertEquals(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("SSE: a client that leaves mid-job stops the stream (the job carries on)", async () => {
  await using w = await populated(6);
  slowPuts(w, 150);
  // Watch the route's subscription to the job: it must end when the client leaves.
  const runner = w.s.epochs!.runner;
  const events = runner.events.bind(runner);
  let following = 0;
  runner.events = async function* (jobId: string, afterId?: number) {
    following++;
    try {
      yield* events(jobId, afterId);
    } finally {
      following--;
    }
  };
  const started = await w.s.call("POST", "/v1/reencrypt/jobs", w.operator.token, {
    ...jobBody(w),
    concurrency: 1,
  });
  const id = started.body.job_id as string;
  const stream = await openEvents(w.s, `/v1/reencrypt/jobs/${id}/events`, {
    authorization: `Bearer ${w.operator.token}`,
  });
  assert((await stream.next()) !== null);
  assertEquals(following, 1);
  await stream.close();
  const deadline = Date.now() + 2000;
  while (following > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assertEquals(following, 0, "the stream stopped following the job");
  const now = await w.s.call("GET", `/v1/reencrypt/jobs/${id}`, w.operator.token);
  assertEquals(now.body.state, "running", "…before the job ended");
  const done = await runner.wait(id);
  assertEquals([done.state, done.counts.reencrypted], ["succeeded", 6]);
});

Deno.test("reencrypt --url: the session expiring mid-job exits 75; the job itself finishes", async () => {
  await using w = await populated(4);
  slowPuts(w, 30);
  // The CLI talks to the in-process app; the session expires right after the job started.
  const inApp: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith("/events")) w.s.advance(13 * 3600_000);
    return Promise.resolve(w.s.request(url.pathname + url.search, init));
  };
  const io = capture();
  const code = await reencryptMain([
    "--url",
    "https://agentkeys.test",
    "--operator-omni",
    w.operator.omni,
    "--old-epoch",
    "1",
    "--new-epoch",
    "2",
  ], {
    env: { AGENTKEYS_SESSION: w.operator.token },
    fetch: inApp,
    stderrIsTerminal: false,
    ...io,
  });
  assertEquals(code, EXIT.expired, io.err);
  assertMatch(io.err, /the session has expired/);
  assertMatch(io.err, /re-run to continue/);
  const [job] = await w.s.epochs!.runner.list(1);
  const done = await w.s.epochs!.runner.wait(job.job_id);
  assertEquals([done.state, done.counts.reencrypted], ["succeeded", 4]);
});
