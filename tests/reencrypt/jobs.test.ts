import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  InvalidReencryptParams,
  JobNotFound,
  JobRunner,
  type JobRunnerDeps,
  JobRunning,
} from "../../lib/reencrypt/mod.ts";
import type { SummaryEvent } from "../../lib/reencrypt/mod.ts";
import { type JobEvent, type JobRecord, KvJobStore } from "../../lib/state/mod.ts";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { join } from "node:path";
import { type Env, makeEnv, OPERATOR, simpleFixture } from "./fixture.ts";
import { FaultyStore } from "../support/faulty_store.ts";

const REQUEST = { operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 };

function runner(env: Env, extra: Partial<JobRunnerDeps> = {}): JobRunner {
  return new JobRunner({
    jobs: env.jobStore,
    engine: { store: env.store, keys: env.keystore, actors: env.actors, ledger: env.ledger },
    audit: env.audit,
    warn: () => {},
    ...extra,
  });
}

async function all(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

function checkLog(events: JobEvent[], from = 1): void {
  events.forEach((e, i) => assertEquals(e.id, from + i, "ids increase by one"));
  assertEquals(events.at(-1)?.event, "end");
  assertEquals(events.at(-2)?.event, "summary");
}

/** The summary of a log, which comes right before `end`. */
function summaryOf(events: JobEvent[], at = -2): SummaryEvent {
  const e = events.at(at);
  if (e?.event !== "summary") throw new Error(`event ${at} is ${e?.event}, not summary`);
  return e.data;
}

Deno.test("jobs: a job is persisted with counts; its log replays in full and from an id", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 25);
  const jobs = runner(env);
  const started = await jobs.start({ ...REQUEST, concurrency: 4 });
  assertEquals(started.state, "running");
  assertEquals(started.params, {
    operator_omni: OPERATOR,
    old_epoch: 1,
    new_epoch: 2,
    dry_run: false,
    concurrency: 4,
    classes: ["credentials", "memory", "inbound", "keyring"],
  });
  const final = await jobs.wait(started.job_id);
  assertEquals(final.state, "succeeded");
  assertEquals(final.counts.reencrypted, 25);
  assertEquals(final.counts.done, 25);
  assertEquals(final.counts.listed, 25);
  assert(final.finished_at !== undefined);
  // From KV, as another process would see it.
  const stored = (await env.jobStore.get(started.job_id))!;
  assertEquals([stored.state, stored.counts.reencrypted], ["succeeded", 25]);
  const log = await all(jobs.events(started.job_id));
  checkLog(log);
  assertEquals(log.filter((e) => e.event === "blob").length, 25);
  const summary = summaryOf(log);
  assertEquals([summary.reencrypted, summary.state], [25, "succeeded"]);
  assertEquals(stored.last_event_id, log.at(-1)!.id);
  const tail = await all(jobs.events(started.job_id, 20));
  assertEquals(tail.map((e) => e.id), log.slice(20).map((e) => e.id));
  // Starts and ends are in the audit log.
  const kinds = [];
  for await (const e of env.audit.entries()) kinds.push(e.kind);
  assertEquals(kinds, ["reencrypt_job_started", "reencrypt_job_finished"]);
  await assertRejects(() => all(jobs.events("rj_nope")), JobNotFound);
  await assertRejects(() => jobs.get("rj_nope"), JobNotFound);
});

Deno.test("jobs: live subscribers get every event at once while KV writes are batched", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 40);
  // Flush rarely: what subscribers see before the end cannot have come from KV.
  const jobs = runner(env, { flushMs: 60_000, flushEvents: 100_000, heartbeatMs: 60_000 });
  const job = await jobs.start({ ...REQUEST, concurrency: 2 });
  const early = jobs.events(job.job_id);
  let storedBeforeEnd = -1;
  const seen: JobEvent[] = [];
  for await (const e of early) {
    if (e.event === "summary") {
      storedBeforeEnd = 0;
      for await (const _ of env.jobStore.events(job.job_id)) storedBeforeEnd++;
    }
    seen.push(e);
  }
  checkLog(seen);
  assertEquals(storedBeforeEnd, 0, "nothing was in KV yet when the summary arrived");
  await jobs.wait(job.job_id);
  assertEquals((await all(env.jobStore.events(job.job_id))).length, seen.length);
});

Deno.test("jobs: a subscriber joining mid-run from an id misses nothing and sees no repeats", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 60);
  const jobs = runner(env, { flushMs: 5, flushEvents: 7 });
  const job = await jobs.start({ ...REQUEST, concurrency: 1 });
  const first: JobEvent[] = [];
  let late: Promise<JobEvent[]> | undefined;
  for await (const e of jobs.events(job.job_id)) {
    first.push(e);
    // Join after some events were flushed and others were not.
    if (e.id === 30) late = all(jobs.events(job.job_id, 12));
  }
  checkLog(first);
  const joined = await late!;
  checkLog(joined, 13);
  assertEquals(joined.map((e) => e.id), first.slice(12).map((e) => e.id));
});

Deno.test("jobs: a follower far slower than the job reads on from KV, in order", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 50);
  const jobs = runner(env, { flushMs: 5, flushEvents: 3 });
  const job = await jobs.start({ ...REQUEST, concurrency: 4 });
  const slow: JobEvent[] = [];
  for await (const e of jobs.events(job.job_id)) {
    slow.push(e);
    // Far slower than the job: most events are flushed out of the buffer before it reads them.
    await new Promise((r) => setTimeout(r, 3));
  }
  checkLog(slow);
  assertEquals(slow.filter((e) => e.event === "blob").length, 50);
});

/**
 * Follows a running job through `follower` three ways — from the start; attached mid-job with no
 * id; attached mid-job, leaving after a few live events and coming back with the last id it saw
 * (an SSE client's reconnect with Last-Event-ID) — and checks that each saw the job's whole log,
 * every event once and in order.
 */
async function followMidJob(follower: JobRunner, jobId: string, stored: () => Promise<JobEvent[]>) {
  const running = async (what: string) =>
    assertEquals((await follower.get(jobId)).state, "running", `${what} while the job runs`);
  const fromStart: JobEvent[] = [];
  let attached: Promise<JobEvent[]> | undefined;
  let reconnected: Promise<JobEvent[]> | undefined;
  for await (const e of follower.events(jobId)) {
    fromStart.push(e);
    if (e.id !== 10) continue;
    await running("attached");
    attached = all(follower.events(jobId));
    reconnected = (async () => {
      const seen: JobEvent[] = [];
      for await (const x of follower.events(jobId)) {
        seen.push(x);
        if (x.id === 20) break;
      }
      await running("reconnected");
      for await (const x of follower.events(jobId, seen.at(-1)!.id)) seen.push(x);
      return seen;
    })();
  }
  const log = await stored();
  checkLog(log);
  assert(log.filter((e) => e.event === "blob").length === 60, "every blob is in the log");
  assertEquals(fromStart, log, "followed from the start");
  assertEquals(await attached, log, "attached mid-job");
  assertEquals(await reconnected, log, "reconnected with its last id");
}

/** Every put waits `ms`, so that the job runs long enough to be joined. */
function slowPuts(env: Env, ms: number) {
  return new FaultyStore(env.store, { beforePut: () => new Promise((r) => setTimeout(r, ms)) });
}

Deno.test("jobs: followers attached mid-job or reconnecting with an id see every event once, in order (job run here)", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 60);
  // Small, frequent flushes: followers read some events from KV and some from the buffer.
  const owner = new JobRunner({
    jobs: env.jobStore,
    engine: { store: slowPuts(env, 10), keys: env.keystore, actors: env.actors },
    flushMs: 5,
    flushEvents: 3,
    warn: () => {},
  });
  const job = await owner.start({ ...REQUEST, concurrency: 1 });
  await followMidJob(owner, job.job_id, async () => {
    assertEquals((await owner.wait(job.job_id)).state, "succeeded");
    return await all(env.jobStore.events(job.job_id));
  });
});

Deno.test("jobs: followers attached mid-job or reconnecting with an id see every event once, in order (log written by another process)", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 60);
  // Two KV handles on one file: the owner's process and the follower's.
  const path = join(env.dir, "jobs.kv");
  const ownerKv = await Deno.openKv(path);
  const followerKv = await Deno.openKv(path);
  try {
    const owner = new JobRunner({
      jobs: new KvJobStore(ownerKv),
      engine: { store: slowPuts(env, 10), keys: env.keystore, actors: env.actors },
      flushMs: 5,
      flushEvents: 3,
      warn: () => {},
    });
    const followerStore = new KvJobStore(followerKv);
    const follower = runner(env, { jobs: followerStore, pollMs: 15 });
    const job = await owner.start({ ...REQUEST, concurrency: 1 });
    await followMidJob(follower, job.job_id, async () => {
      assertEquals((await owner.wait(job.job_id)).state, "succeeded");
      return await all(followerStore.events(job.job_id));
    });
  } finally {
    ownerKv.close();
    followerKv.close();
  }
});

Deno.test("jobs: one running job per operator (409), another operator is free", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 30);
  const jobs = runner(env);
  const first = await jobs.start({ ...REQUEST, concurrency: 1 });
  const err = await assertRejects(() => jobs.start(REQUEST), JobRunning) as JobRunning;
  assertEquals([err.code, err.jobId], ["job_running", first.job_id]);
  const global = await jobs.start({ ...REQUEST, operator_omni: "all", dry_run: true });
  await jobs.wait(global.job_id);
  await jobs.wait(first.job_id);
  const second = await jobs.start(REQUEST);
  assertEquals((await jobs.wait(second.job_id)).counts.skipped, 30);
  assertEquals((await jobs.list(10)).map((j) => j.job_id), [
    second.job_id,
    global.job_id,
    first.job_id,
  ]);
});

Deno.test("jobs: a rotation made by another process is seen when a job starts", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 6); // 2 active
  const other = await EpochKeystore.open({ path: env.keystorePath, sealKey: env.sealKey });
  await other.rotate(); // 3 active, in "another process"
  assertEquals(env.keystore.activeEpoch, 2, "this instance has not seen it yet");
  const jobs = runner(env);
  const job = await jobs.start({ ...REQUEST, old_epoch: 2, new_epoch: 3 });
  assertEquals((await jobs.wait(job.job_id)).state, "succeeded");
  assertEquals(env.keystore.activeEpoch, 3);
});

Deno.test("jobs: bad parameters are refused before any record exists", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 1);
  const jobs = runner(env);
  await assertRejects(() => jobs.start({ ...REQUEST, old_epoch: 2 }), InvalidReencryptParams);
  await assertRejects(() => jobs.start({ ...REQUEST, classes: ["x"] }), InvalidReencryptParams);
  assertEquals(await jobs.list(), []);
});

Deno.test("jobs: cancel stops a running job; summary and record say cancelled", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 80);
  const jobs = runner(env);
  const job = await jobs.start({ ...REQUEST, concurrency: 1 });
  const log: JobEvent[] = [];
  for await (const e of jobs.events(job.job_id)) {
    log.push(e);
    if (e.id === 5) await jobs.cancel(job.job_id);
  }
  checkLog(log);
  assertEquals(summaryOf(log).state, "cancelled");
  const record = await jobs.get(job.job_id);
  assertEquals(record.state, "cancelled");
  assert(record.counts.reencrypted < 80, `${record.counts.reencrypted}`);
  assertEquals((await jobs.cancel(job.job_id)).state, "cancelled", "cancelling again is a no-op");
});

Deno.test("jobs: another process follows by polling KV and can cancel", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 80);
  const owner = runner(env, { heartbeatMs: 20, flushMs: 10 });
  const other = runner(env, { pollMs: 20 });
  const job = await owner.start({ ...REQUEST, concurrency: 1 });
  const log: JobEvent[] = [];
  for await (const e of other.events(job.job_id)) {
    log.push(e);
    if (e.event === "blob" && log.length === 3) await other.cancel(job.job_id);
  }
  checkLog(log);
  assertEquals(summaryOf(log).state, "cancelled");
  assertEquals((await other.wait(job.job_id)).state, "cancelled");
});

function deadJob(id: string, owner: JobRecord["owner"], heartbeat: Date): JobRecord {
  return {
    job_id: id,
    state: "running",
    params: {
      operator_omni: OPERATOR,
      old_epoch: 1,
      new_epoch: 2,
      dry_run: false,
      concurrency: 16,
      classes: ["credentials"],
    },
    counts: {
      listed: 3,
      done: 3,
      reencrypted: 3,
      would_reencrypt: 0,
      skipped: 0,
      other_epoch: 0,
      failed: 0,
    },
    started_at: new Date(heartbeat.getTime() - 1000).toISOString(),
    owner,
    heartbeat_at: heartbeat.toISOString(),
    last_event_id: 0,
  };
}

Deno.test("jobs: jobs left running by dead processes are marked aborted at start-up", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 5);
  const me = { host: "box", pid: 100, instance: "me" };
  const now = new Date();
  // Same host, pid gone: dead at once. Other host, silent for a minute: dead by heartbeat.
  // Other host, fresh heartbeat: alive, must be left alone.
  await env.jobStore.create(deadJob("rj_a", { host: "box", pid: 4242, instance: "x" }, now), "a");
  await env.jobStore.create(
    deadJob("rj_b", { host: "far", pid: 7, instance: "y" }, new Date(now.getTime() - 60_000)),
    "b",
  );
  await env.jobStore.create(deadJob("rj_c", { host: "far", pid: 8, instance: "z" }, now), "c");
  const jobs = runner(env, { owner: me, pidAlive: (pid) => pid === 100 });
  const recovered = await jobs.recoverAbandoned();
  assertEquals(recovered.map((r) => r.job_id).sort(), ["rj_a", "rj_b"]);
  const a = await jobs.get("rj_a");
  assertEquals(a.state, "aborted");
  // The reason is shown to the operator: it says what happened, not which host or pid.
  assert(a.error!.includes("exited") && !a.error!.includes("4242"), a.error);
  const b = (await jobs.get("rj_b")).error!;
  assert(b.includes("no heartbeat") && !b.includes("far") && !b.includes("pid"), b);
  assertEquals((await jobs.get("rj_c")).state, "running");
  const log = await all(jobs.events("rj_a"));
  assertEquals(log.map((e) => e.event), ["summary", "end"]);
  const aborted = summaryOf(log, 0);
  assertEquals([aborted.state, aborted.reencrypted], ["aborted", 3]);
  assertEquals(await env.jobStore.holder("a"), null);
  assertEquals(await env.jobStore.holder("c"), "rj_c");
});

Deno.test("jobs: starting frees the operator's lock held by a dead job", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 5);
  const lock = OPERATOR.slice(2);
  await env.jobStore.create(
    deadJob("rj_dead", { host: "box", pid: 4242, instance: "x" }, new Date()),
    lock,
  );
  const jobs = runner(env, {
    owner: { host: "box", pid: 100, instance: "me" },
    pidAlive: (pid) => pid === 100,
  });
  const job = await jobs.start(REQUEST);
  assertEquals((await jobs.wait(job.job_id)).state, "succeeded");
  assertEquals((await jobs.get("rj_dead")).state, "aborted");
});

Deno.test("jobs: close cancels running jobs and waits for them", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 60);
  const jobs = runner(env);
  const job = await jobs.start({ ...REQUEST, concurrency: 1 });
  await jobs.close();
  const record = (await env.jobStore.get(job.job_id))!;
  assertEquals(record.state, "cancelled");
  assertEquals(await env.jobStore.holder(OPERATOR.slice(2)), null);
});
