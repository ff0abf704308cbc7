/**
 * Job events, summaries and records never carry a store's or chain's own message (absolute fs
 * paths, S3 or RPC endpoints): they reach the operator and outlive the run. The detail goes to
 * the service log (`warn`).
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { type JobEvent, StateBusy } from "../../lib/state/mod.ts";
import { type ActorDirectory, JobRunner } from "../../lib/reencrypt/mod.ts";
import { type BlobStore } from "../../lib/store/mod.ts";
import { StoreUnavailable } from "../../lib/store/_errors.ts";
import { type Env, makeEnv, OPERATOR, simpleFixture } from "./fixture.ts";

const ENDPOINT = "https://rgw.internal.example:7480";

async function runJob(env: Env, store: BlobStore, actors: ActorDirectory = env.actors) {
  const logged: string[] = [];
  const warn = (m: string) => logged.push(m);
  const runner = new JobRunner({
    jobs: env.jobStore,
    engine: { store, keys: env.keystore, actors, ledger: env.ledger, warn },
    warn,
  });
  const started = await runner.start({ operator_omni: OPERATOR, old_epoch: 1, new_epoch: 2 });
  const record = await runner.wait(started.job_id);
  const events: JobEvent[] = [];
  for await (const e of runner.events(started.job_id)) events.push(e);
  await runner.close();
  return { record, events, logged, wire: JSON.stringify({ record, events }) };
}

Deno.test("a blob whose read fails with a path in the store's message: the event says store_unavailable, never the path", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 6);
  const path = `${env.dir}/blobs/${keys[2]}`;
  const faulty = new FaultyStore(env.store, {
    fail: (op, key) =>
      op === "get" && key === keys[2]
        ? new StoreUnavailable(`EIO: i/o error, open '${path}'`)
        : undefined,
  });
  const { record, events, logged, wire } = await runJob(env, faulty);
  assertEquals([record.state, record.counts.failed, record.counts.reencrypted], ["failed", 1, 5]);
  const failed = events.find((e): e is Extract<JobEvent, { event: "blob" }> =>
    e.event === "blob" && e.data.key === keys[2]
  )!;
  assertMatch(failed.data.reason as string, /^store_unavailable: /);
  assert(!wire.includes(env.dir), "no absolute path in the record or any event");
  assert(!wire.includes("EIO"), "no store message in the record or any event");
  // The owner's own object key stays in its blob event (API.md), only the path is gone.
  assertEquals(failed.data.key, keys[2]);
  assert(logged.some((m) => m.includes(path)), "the detail is in the service log");
});

Deno.test("a listing that fails with the S3 endpoint in its message: summary and record name no endpoint", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 3);
  const faulty = new FaultyStore(env.store, {
    fail: (op) =>
      op === "list"
        ? new StoreUnavailable(`connect ECONNREFUSED ${ENDPOINT}/agentkeys-vault?list-type=2`)
        : undefined,
  });
  const { record, events, logged, wire } = await runJob(env, faulty);
  assertEquals(record.state, "failed");
  assertMatch(record.error!, /^listing failed: store_unavailable: /);
  const summary = events.find((e) => e.event === "summary")!;
  assertEquals(summary.data.error, record.error);
  assert(!wire.includes("rgw.internal"), wire);
  assert(logged.some((m) => m.includes(ENDPOINT)));
});

Deno.test("an actor directory (chain) failure with the RPC URL in its message: the record names no URL", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 3);
  const actors: ActorDirectory = {
    actorsOf: () =>
      Promise.reject(new Error(`HTTP request failed. URL: http://10.0.0.7:8545 Status: 502`)),
  };
  const { record, wire, logged } = await runJob(env, env.store, actors);
  assertEquals(record.state, "failed");
  assertMatch(record.error!, /^actor directory failed: internal_error/);
  assert(!wire.includes("10.0.0.7"), wire);
  assert(logged.some((m) => m.includes("10.0.0.7")));
});

Deno.test("a blob whose write meets a state store kept busy by another process: failed with state_busy and re-run, not internal_error", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 6);
  const faulty = new FaultyStore(env.store, {
    fail: (op, key) =>
      op === "put" && key === keys[1]
        ? new StateBusy("commit: the state store stayed locked by another process")
        : undefined,
  });
  const { record, events } = await runJob(env, faulty);
  assertEquals([record.state, record.counts.failed, record.counts.reencrypted], ["failed", 1, 5]);
  const failed = events.find((e): e is Extract<JobEvent, { event: "blob" }> =>
    e.event === "blob" && e.data.key === keys[1]
  )!;
  assertMatch(failed.data.reason as string, /^state_busy: .*re-run the job; left untouched$/);
});
