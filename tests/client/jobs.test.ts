import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { AgentKeysClient, ApiCallError } from "../../lib/client/mod.ts";
import { EventStreamLost } from "../../lib/client/_errors.ts";
import { SseParser } from "../../lib/client/_sse.ts";
import type { JobEvent } from "../../lib/state/mod.ts";
import { EXIT, reencryptMain } from "../../lib/cli/mod.ts";
import type { RunState } from "../../lib/reencrypt/mod.ts";
import { OPERATOR } from "../reencrypt/fixture.ts";
import { capture } from "../reencrypt/datadir.ts";
import { saveSession } from "../../lib/cli/_session_file.ts";

Deno.test("sse parser: fields, multi-line data, comments, any line end, any split", () => {
  const text = ': hello\r\nid: 1\r\nevent: blob\r\ndata: {"a":\r\ndata: 1}\r\n\r\n' +
    "id: 2\revent: end\rdata: {}\r\r" + "retry: 5\nid: 3\ndata:x\n\n";
  const expected = [
    { id: "1", event: "blob", data: '{"a":\n1}' },
    { id: "2", event: "end", data: "{}" },
    { id: "3", event: "message", data: "x" },
  ];
  // Every way of splitting the stream in two gives the same events.
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new SseParser();
    const got = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
    assertEquals(got, expected, `split at ${cut}`);
    assertEquals(parser.lastId, "3");
  }
  // Byte by byte.
  const parser = new SseParser();
  const got = [...text].flatMap((c) => parser.push(c));
  assertEquals(got, expected);
});

/** A fake job service: scripted answers and an event log served over SSE. */
function fakeService(options: {
  events: JobEvent[];
  /** Connections that break after this many events (then the stream just ends). */
  breakAfter?: number[];
  startStatus?: number;
  startBody?: Record<string, unknown>;
  eventsStatus?: number;
  /** Pause between events, to let the client render in between. */
  delayMs?: number;
}) {
  const seen: {
    lastEventIds: (string | null)[];
    auth: string[];
    bodies: unknown[];
    cancels: number;
  } = {
    lastEventIds: [],
    auth: [],
    bodies: [],
    cancels: 0,
  };
  let connection = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    seen.auth.push(req.headers.get("authorization") ?? "");
    if (req.method === "POST" && url.pathname === "/v1/reencrypt/jobs") {
      seen.bodies.push(await req.json());
      return Response.json(options.startBody ?? { job_id: "rj_remote" }, {
        status: options.startStatus ?? 201,
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/reencrypt/jobs/rj_remote/cancel") {
      seen.cancels++;
      return Response.json({ job_id: "rj_remote", state: "running" });
    }
    if (req.method === "GET" && url.pathname === "/v1/reencrypt/jobs/rj_remote") {
      return Response.json({ job_id: "rj_remote", state: "succeeded" });
    }
    if (req.method === "GET" && url.pathname === "/v1/reencrypt/jobs") {
      return Response.json({ jobs: [{ job_id: "rj_remote", state: "succeeded" }] });
    }
    if (url.pathname === "/v1/reencrypt/jobs/rj_remote/events") {
      if (options.eventsStatus) {
        return Response.json({ error: "session_expired", message: "log in again" }, {
          status: options.eventsStatus,
        });
      }
      const last = req.headers.get("last-event-id");
      seen.lastEventIds.push(last);
      const limit = options.breakAfter?.[connection++] ?? Infinity;
      const pending = options.events.filter((e) => e.id > Number(last ?? 0)).slice(0, limit);
      const frames = pending.map((e) =>
        `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`
      );
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode(": stream\n\n"));
          for (const frame of frames) {
            if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
            controller.enqueue(encoder.encode(frame));
          }
          controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json({ error: "not_found", message: "no route" }, { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function jobLog(state: RunState = "succeeded"): JobEvent[] {
  const key = (i: number) => `bots/${"ab".repeat(32)}/credentials/s${i}.enc`;
  const blobs: JobEvent[] = [1, 2, 3, 4].map((i) => ({
    id: i,
    event: "blob",
    data: {
      key: key(i),
      actor_omni: OPERATOR,
      data_class: "credentials",
      from_epoch: 1,
      outcome: "reencrypted",
      ms: 2,
    },
  }));
  return [
    ...blobs,
    { id: 5, event: "progress", data: { listed: 4, done: 4, rate_per_s: 100 } },
    {
      id: 6,
      event: "summary",
      data: {
        reencrypted: 4,
        would_reencrypt: 0,
        skipped: 0,
        other_epoch: 0,
        failed: 0,
        duration_ms: 12,
        state,
      },
    },
    { id: 7, event: "end", data: {} },
  ];
}

Deno.test("client: starts a job and follows its stream across reconnects with Last-Event-ID", async () => {
  await using svc = fakeService({ events: jobLog(), breakAfter: [2, 0, 3] });
  const client = new AgentKeysClient(svc.url + "/", "tok", { retryDelayMs: 1 });
  const started = await client.startJob({ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 });
  assertEquals(started.job_id, "rj_remote");
  assertEquals(svc.seen.bodies, [{ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 }]);
  const got: JobEvent[] = [];
  for await (const e of client.followJob(started.job_id)) got.push(e);
  assertEquals(got, jobLog(), "every event once, in order, with its data");
  assertEquals(svc.seen.lastEventIds, [null, "2", "2", "5"]);
  assert(svc.seen.auth.every((a) => a === "Bearer tok"));
});

Deno.test("client: reads, lists and cancels jobs; follows from a given event id", async () => {
  await using svc = fakeService({ events: jobLog() });
  const client = new AgentKeysClient(svc.url, "tok");
  assertEquals((await client.job("rj_remote")).state, "succeeded");
  assertEquals((await client.jobs()).map((j) => j.job_id), ["rj_remote"]);
  assertEquals((await client.cancelJob("rj_remote")).job_id, "rj_remote");
  assertEquals(svc.seen.cancels, 1);
  const got: number[] = [];
  for await (const e of client.followJob("rj_remote", { lastEventId: 4 })) got.push(e.id);
  assertEquals(got, [5, 6, 7]);
  assertEquals(svc.seen.lastEventIds, ["4"]);
  // Leaving the loop early closes the stream; the next follow starts where it is told.
  for await (const e of client.followJob("rj_remote")) if (e.id === 2) break;
  assertEquals(svc.seen.lastEventIds, ["4", null]);
  assert(svc.seen.auth.every((a) => a === "Bearer tok"));
});

Deno.test("client: refusals are ApiCallErrors with status, code and details; a dead stream gives up", async () => {
  {
    await using svc = fakeService({
      events: [],
      startStatus: 409,
      startBody: { error: "job_running", message: "busy", job_id: "rj_other" },
    });
    const client = new AgentKeysClient(svc.url, "t");
    const err = await assertRejects(
      () => client.startJob({ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 }),
      ApiCallError,
    ) as ApiCallError;
    assertEquals([err.status, err.code, err.body.job_id], [409, "job_running", "rj_other"]);
  }
  {
    await using svc = fakeService({
      events: [],
      startStatus: 400,
      startBody: { error: "invalid_params", message: "old and new epoch are both 2" },
    });
    const err = await assertRejects(
      () =>
        new AgentKeysClient(svc.url, "t").startJob({
          operator_omni: OPERATOR,
          old_epoch: 2,
          new_epoch: 2,
        }),
      ApiCallError,
      "both 2",
    ) as ApiCallError;
    assertEquals([err.status, err.code, err.answer], [
      400,
      "invalid_params",
      "old and new epoch are both 2",
    ]);
  }
  {
    await using svc = fakeService({ events: [], eventsStatus: 401 });
    const client = new AgentKeysClient(svc.url, "t");
    const err = await assertRejects(async () => {
      for await (const _ of client.followJob("rj_remote")) { /* none */ }
    }, ApiCallError) as ApiCallError;
    assertEquals([err.status, err.code, err.sessionEnded], [401, "session_expired", true]);
  }
  {
    // The stream keeps ending without events: give up after maxReconnects.
    await using svc = fakeService({ events: jobLog(), breakAfter: [0, 0, 0, 0] });
    const client = new AgentKeysClient(svc.url, "t", { maxReconnects: 2, retryDelayMs: 1 });
    await assertRejects(async () => {
      for await (const _ of client.followJob("rj_remote")) { /* none */ }
    }, EventStreamLost);
    assertEquals(svc.seen.lastEventIds, [null, null, null], "three connects, then it gave up");
  }
});

Deno.test("client: sessionEnded is true only for a 401 that ends the session", () => {
  for (const code of ["session_invalid", "session_expired", "session_revoked"]) {
    assert(new ApiCallError(401, code, "x").sessionEnded, code);
  }
  assert(!new ApiCallError(401, "cap_expired", "x").sessionEnded, "a cap, not the session");
  assert(!new ApiCallError(401, "no_session", "x").sessionEnded, "never signed in");
  assert(!new ApiCallError(403, "session_expired", "x").sessionEnded, "not a 401");
});

Deno.test("cli --url: prints the remote job's blobs and summary; exit code from its state", async () => {
  for (
    const [state, code] of [["succeeded", EXIT.ok], ["failed", EXIT.failed], [
      "aborted",
      75,
    ]] as const
  ) {
    await using svc = fakeService({ events: jobLog(state), breakAfter: [3] });
    const io = capture();
    const exit = await reencryptMain(
      ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2", "--url", svc.url],
      { env: { AGENTKEYS_SESSION: "sess" }, ...io, stderrIsTerminal: false },
    );
    assertEquals(exit, code, io.err);
    const lines = io.out.trimEnd().split("\n");
    assertEquals(lines.length, 5);
    assertMatch(
      lines[0],
      /^reencrypted bots\/[0-9a-f]{64}\/credentials\/s1\.enc epoch 1 -> 2 2ms$/,
    );
    assertMatch(lines[4], new RegExp(`^summary ${state}: 4 reencrypted`));
    assertMatch(io.err, /job rj_remote started on http/);
    assertEquals(svc.seen.auth[0], "Bearer sess");
  }
});

Deno.test("cli --url: an expired session exits 75; a refused start exits 2", async () => {
  {
    await using svc = fakeService({ events: [], eventsStatus: 401 });
    const io = capture();
    const exit = await reencryptMain(
      ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2", "--url", svc.url],
      { env: { AGENTKEYS_SESSION: "old" }, ...io },
    );
    assertEquals(exit, EXIT.expired);
    assertMatch(io.err, /re-run to continue/);
  }
  {
    await using svc = fakeService({
      events: [],
      startStatus: 400,
      startBody: { error: "invalid_params", message: "new epoch 3 is retiring" },
    });
    const io = capture();
    const exit = await reencryptMain(
      ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "3", "--url", svc.url],
      { env: { AGENTKEYS_SESSION: "s" }, ...io },
    );
    assertEquals(exit, EXIT.usage);
    assertMatch(io.err, /new epoch 3 is retiring/);
  }
});

Deno.test("cli: progress line on a terminal only, erased before stdout lines and at the end", async () => {
  for (const tty of [true, false]) {
    await using svc = fakeService({ events: jobLog(), delayMs: 70 });
    const io = capture();
    const exit = await reencryptMain(
      ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2", "--url", svc.url],
      { env: { AGENTKEYS_SESSION: "s" }, ...io, stderrIsTerminal: tty },
    );
    assertEquals(exit, EXIT.ok);
    assert(!io.out.includes("\r") && !io.out.includes("blobs/s"), "stdout has no progress");
    if (tty) {
      // The terminal escape erases the line before each redraw.
      // deno-lint-ignore no-control-regex
      assertMatch(io.err, /\r\x1b\[K\[#+\.*\] 4\/4 listed, 100 blobs\/s/);
      assert(io.err.endsWith("\r\x1b[K"), JSON.stringify(io.err.slice(-40)));
    } else {
      assert(!io.err.includes("blobs/s"), io.err);
    }
  }
});

Deno.test("cli --url: without AGENTKEYS_SESSION, the CLI's saved login for the same service is used", async () => {
  await using svc = fakeService({ events: jobLog("succeeded"), breakAfter: [3] });
  const home = await Deno.makeTempDir();
  try {
    await saveSession(home, {
      url: svc.url,
      session_jwt: "saved",
      operator_omni: OPERATOR,
      address: "0x" + "1".repeat(40),
    });
    const io = capture();
    const args = [
      "--operator-omni",
      OPERATOR,
      "--old-epoch",
      "1",
      "--new-epoch",
      "2",
      "--url",
      svc.url,
    ];
    assertEquals(
      await reencryptMain(args, { env: { AGENTKEYS_CLI_HOME: home }, ...io }),
      EXIT.ok,
      io.err,
    );
    assertEquals(svc.seen.auth[0], "Bearer saved");
    // A login saved for another service is not sent anywhere else.
    await saveSession(home, {
      url: "http://127.0.0.1:1",
      session_jwt: "other",
      operator_omni: OPERATOR,
      address: "0x" + "1".repeat(40),
    });
    const io2 = capture();
    assertEquals(
      await reencryptMain(args, { env: { AGENTKEYS_CLI_HOME: home }, ...io2 }),
      EXIT.usage,
    );
    assertMatch(io2.err, /AGENTKEYS_SESSION/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
