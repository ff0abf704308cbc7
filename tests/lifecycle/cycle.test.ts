/**
 * The lifecycle scheduler in process, on a fake clock: the full cycle by itself (with anvil for
 * EpochDestroyed), a deferred destroy, a burst of revocations, the lease, the window.
 *
 * @module
 */

import { assert, assertEquals } from "../support/assert.ts";
import type { IdentityEvent } from "../../lib/identity/mod.ts";
import { credentialLocation, inboundLocation, memoryLocation } from "../../lib/worker/mod.ts";
import { forwardSecrecyWindow } from "../../lib/lifecycle/mod.ts";
import { nextRotation, nextStep } from "../../lib/lifecycle/_plan.ts";
import type { LifecycleState } from "../../lib/lifecycle/_store.ts";
import { defaultLifecyclePolicy } from "../../lib/config/mod.ts";
import { startTestChain } from "../support/chain.ts";
import { DAY, HOUR, lifecycleEnv } from "./_env.ts";

const A = "b2".repeat(32);
const B = "c3".repeat(32);

Deno.test("a full cycle runs by itself: rotate at 7 d, job at +1 h, census and destroy at +24 h", async () => {
  await using chain = await startTestChain();
  await using env = await lifecycleEnv({ recorder: chain.client });
  const s = env.scheduler;
  const before = [
    credentialLocation(A, "github"),
    memoryLocation(B, "notes", "a"),
    inboundLocation(A, "m1"),
  ];
  for (const [i, loc] of before.entries()) await env.write(loc, `before-${i}`);

  // Nothing is due before 7 days.
  env.clock.advance(7 * DAY - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(1000);
  const rotated = await s.tick();
  assertEquals([rotated.step, rotated.outcome], ["rotate", "done"]);
  assertEquals(env.keystore.activeEpoch, 2);
  assertEquals(await chain.client.currentEpoch(), 2);

  // Written during the cycle, under the new epoch; and one more under the old (a lagging writer).
  const during = credentialLocation(B, "openai");
  await env.write(during, "during");
  const lagging = memoryLocation(A, "notes", "late");
  await env.write(lagging, "late", 1);

  env.clock.advance(HOUR - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(1000);
  const job = await s.tick();
  assertEquals([job.step, job.outcome, job.epoch], ["reencrypt", "done", 1]);
  for (const loc of [...before, lagging]) assertEquals((await env.read(loc.key)).epoch, 2);

  env.clock.advance(23 * HOUR - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(1000);
  const destroyed = await s.tick();
  assertEquals([destroyed.step, destroyed.outcome, destroyed.epoch], ["destroy", "done", 1]);
  assertEquals(env.keystore.stateOf(1), "destroyed");
  assert((await chain.client.epochInfo(1)).destroyedAt > 0, "EpochDestroyed(1) on chain");

  for (const [i, loc] of before.entries()) {
    assertEquals((await env.read(loc.key)).plaintext, `before-${i}`);
  }
  assertEquals((await env.read(during.key)).plaintext, "during");
  assertEquals((await env.read(lagging.key)).plaintext, "late");

  const steps = (await env.entries("lifecycle_step")).map((d) => `${d.step}:${d.outcome}`);
  assertEquals(steps, ["rotate:done", "reencrypt:done", "destroy:done"]);
  const status = await s.status();
  assertEquals(status.last_destruction?.epoch, 1);
  assertEquals(status.next_rotation?.reason, "schedule");
  assertEquals(status.window.oldest_epoch, 2);
});

Deno.test("a destroy is deferred while a blob remains, audited with the count, then done", async () => {
  await using env = await lifecycleEnv();
  const s = env.scheduler;
  await env.write(credentialLocation(A, "github"), "x");
  env.clock.advance(7 * DAY);
  assertEquals((await s.tick()).step, "rotate");
  env.clock.advance(HOUR);
  assertEquals((await s.tick()).step, "reencrypt");
  // A process the job did not see writes under the old epoch after it ran.
  const stray = memoryLocation(B, "ns", "stray");
  await env.write(stray, "stray", 1);
  env.clock.advance(23 * HOUR);
  const deferred = await s.tick();
  assertEquals([deferred.step, deferred.outcome], ["destroy", "deferred"]);
  assertEquals(env.keystore.stateOf(1), "retiring");
  const audited = await env.entries("lifecycle_destroy_deferred");
  assertEquals([audited.length, audited[0].count, audited[0].epoch], [1, 1, 1]);
  const status = await s.status();
  assertEquals([status.deferred?.epoch, status.deferred?.count], [1, 1]);
  // Not before the retry time.
  env.clock.advance(HOUR - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(1000);
  // The next pass runs the job again (moving the stray blob), then destroys.
  assertEquals((await s.tick()).step, "reencrypt");
  assertEquals((await env.read(stray.key)).epoch, 2);
  const done = await s.tick();
  assertEquals([done.step, done.outcome], ["destroy", "done"]);
  assertEquals(env.keystore.stateOf(1), "destroyed");
  assertEquals((await env.read(stray.key)).plaintext, "stray");
  assertEquals((await s.status()).deferred, null);
});

/** An `agent_revoked` event of agent `actorOmni` mined in `block`. */
function revokedAt(actorOmni: string, block: bigint): IdentityEvent {
  return {
    type: "agent_revoked",
    operatorOmni: "0x" + "a1".repeat(32),
    actorOmni,
    deviceKeyHash: "0x" + "dd".repeat(32),
    block,
  };
}

/** The chain feed as the scheduler sees it: `emit` delivers a batch, `mined` is there to replay. */
class FakeRevocationFeed {
  readonly listeners: ((events: IdentityEvent[]) => void)[] = [];
  head = 0n;
  mined: IdentityEvent[] = [];
  onIdentityEvents(listener: (events: IdentityEvent[]) => void) {
    this.listeners.push(listener);
    return () => void this.listeners.splice(this.listeners.indexOf(listener), 1);
  }
  emit(events: IdentityEvent[]): void {
    for (const l of this.listeners) l(events);
  }
  latestBlock = () => Promise.resolve(this.head);
  identityEventsBetween = (from: bigint, to: bigint) =>
    Promise.resolve(this.mined.filter((e) => e.block >= from && e.block <= to));
}

Deno.test("a burst of revocations gives one rotation, COALESCE after the first", async () => {
  await using env = await lifecycleEnv();
  const s = env.scheduler;
  // Live events only (no replay reads), as a feed without them is allowed to be.
  const feed = new FakeRevocationFeed();
  const listeners = feed.listeners;
  // Blocks only grow (the other kinds below are blocks 1 and 2).
  let block = 2n;
  const revoked = (i: number) => revokedAt("0x" + String(i).padStart(2, "0").repeat(32), ++block);
  const unsubscribe = s.watchRevocations({ onIdentityEvents: (l) => feed.onIdentityEvents(l) });
  const revoke = async (n: number) => {
    for (const l of listeners) l(Array.from({ length: n }, (_, i) => revoked(i)));
    // The listener records asynchronously; wait until KV holds it.
    for (let i = 0; i < 100 && (await s.store.revocations()).value === null; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  env.clock.advance(DAY);
  // Not revocations.
  for (const l of listeners) {
    l([{ type: "scope_set", operatorOmni: "0x00", actorOmni: "0x00", block: 1n }]);
    l([{ type: "epoch_rotated", epoch: 2, block: 2n }]);
  }
  await revoke(1);
  env.clock.advance(60_000);
  await revoke(3);
  await new Promise((r) => setTimeout(r, 20));
  assertEquals((await s.store.revocations()).value?.count, 4);
  env.clock.advance(9 * 60_000 - 1000);
  assertEquals(await s.tick(), { holder: true });
  env.clock.advance(1000);
  const r = await s.tick();
  assertEquals([r.step, r.outcome], ["rotate", "done"]);
  assertEquals(env.keystore.activeEpoch, 2);
  assertEquals((await s.store.revocations()).value, null);
  env.clock.advance(HOUR / 2);
  // No second rotation for the same burst.
  assertEquals((await s.tick()).step, undefined);
  assertEquals(env.keystore.activeEpoch, 2);
  const [entry] = await env.entries("lifecycle_step");
  assertEquals([entry.reason, entry.revocations], ["revocation", 4]);
  unsubscribe();
  assertEquals(listeners.length, 0);
});

Deno.test("only revocations of agents whose data is here count (review: strangers' agents forced rotations)", async () => {
  const served = "0x" + "01".repeat(32);
  await using env = await lifecycleEnv({
    scheduler: { servesActor: (_op, actor) => Promise.resolve(actor === served) },
  });
  const s = env.scheduler;
  const feed = new FakeRevocationFeed();
  const emit = (events: IdentityEvent[]) => feed.emit(events);
  const unsubscribe = s.watchRevocations({ onIdentityEvents: (l) => feed.onIdentityEvents(l) });
  let block = 0n;
  const revoked = (actorOmni: string) => revokedAt(actorOmni, ++block);
  // A stranger's agent (no data here): nothing pending, no rotation.
  emit([revoked("0x" + "02".repeat(32)), revoked("0x" + "03".repeat(32))]);
  await new Promise((r) => setTimeout(r, 20));
  assertEquals((await s.store.revocations()).value, null);
  env.clock.advance(HOUR);
  assertEquals((await s.tick()).step, undefined);
  assertEquals(env.keystore.activeEpoch, 1);
  // An agent with data here: counted, and it rotates after the coalescing window.
  emit([revoked(served), revoked("0x" + "04".repeat(32))]);
  for (let i = 0; i < 100 && (await s.store.revocations()).value === null; i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  assertEquals((await s.store.revocations()).value?.count, 1);
  env.clock.advance(HOUR);
  assertEquals((await s.tick()).step, "rotate");
  assertEquals(env.keystore.activeEpoch, 2);
  unsubscribe();
});

Deno.test("revocations mined while no service ran are counted at the next start, none twice", async () => {
  await using env = await lifecycleEnv();
  const agent = "0x" + "0b".repeat(32);
  const feed = new FakeRevocationFeed();
  feed.mined = [revokedAt(agent, 6n), revokedAt(agent, 7n)];
  feed.head = 5n;
  const settle = () => new Promise((r) => setTimeout(r, 30));
  const pending = async () => (await env.scheduler.store.revocations()).value?.count ?? 0;
  // First start ever: it starts at the head, nothing to replay.
  env.scheduler.watchRevocations(feed)();
  await settle();
  assertEquals(await env.scheduler.store.revocationsSeenBlock(), 5n);
  // Down while blocks 6 and 7 revoke; the next process replays them.
  feed.head = 8n;
  const next = env.another("test-2");
  const stop = next.watchRevocations(feed);
  await settle();
  assertEquals(await pending(), 2);
  // Another process replaying the same range, and a late duplicate from the feed: nothing more.
  const third = env.another("test-3").watchRevocations(feed);
  feed.emit([revokedAt(agent, 7n)]);
  await settle();
  assertEquals(await pending(), 2);
  // A new revocation is counted once, however many processes see it.
  feed.emit([revokedAt(agent, 9n)]);
  await settle();
  assertEquals(await pending(), 3);
  stop();
  third();
});

Deno.test("revocations do not rotate with AGENTKEYS_ROTATE_ON_REVOKE=false", async () => {
  await using env = await lifecycleEnv({ policy: { rotateOnRevoke: false } });
  await env.scheduler.recordRevocations(2);
  env.clock.advance(DAY);
  assertEquals(await env.scheduler.tick(), { holder: true });
  assertEquals(env.keystore.activeEpoch, 1);
});

Deno.test("two schedulers on one state store: only the lease holder acts; the other takes over after expiry", async () => {
  await using env = await lifecycleEnv();
  const other = env.another("test-2");
  env.clock.advance(7 * DAY);
  const [a, b] = await Promise.all([env.scheduler.tick(), other.tick()]);
  assertEquals([a.holder, b.holder].filter(Boolean).length, 1);
  assertEquals(env.keystore.activeEpoch, 2);
  assertEquals((await env.entries("lifecycle_step")).length, 1);
  // The holder stops renewing (crash): the other takes over once the lease expired.
  env.clock.advance(HOUR);
  const holder = a.holder ? env.scheduler : other;
  const waiter = a.holder ? other : env.scheduler;
  assertEquals((await waiter.tick()).holder, true);
  assertEquals((await holder.tick()).holder, false);
  // A clean stop gives the lease up at once.
  await waiter.stop();
  assertEquals((await holder.tick()).holder, true);
});

Deno.test("a failed step is audited and retried later, not at once", async () => {
  let fail = true;
  await using env = await lifecycleEnv();
  const admin = env.epochs.admin;
  const s = env.another("flaky", {
    admin: {
      overview: (...a) => admin.overview(...a),
      census: (o) => admin.census(o),
      destroy: (e, o) => admin.destroy(e, o),
      reconcile: () => admin.reconcile(),
      recoverInterrupted: (k, e) => admin.recoverInterrupted(k, e),
      rotate: (o) => fail ? Promise.reject(new Error("keystore busy")) : admin.rotate(o),
    },
  });
  env.clock.advance(7 * DAY);
  const r = await s.tick();
  assertEquals([r.step, r.outcome], ["rotate", "failed"]);
  fail = false;
  assertEquals(await s.tick(), { holder: true }); // backing off
  env.clock.advance(600_000);
  assertEquals((await s.tick()).outcome, "done");
  const steps = (await env.entries("lifecycle_step")).map((d) => d.outcome);
  assertEquals(steps, ["failed", "done"]);
});

Deno.test("the forward-secrecy window: age of the oldest epoch not destroyed, warning past the bound", () => {
  const policy = { rotateEveryMs: 7 * DAY, destroyAfterMs: DAY };
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const epochs = [
    { epoch: 1, state: "destroyed" as const, createdAt: new Date(t0).toISOString() },
    { epoch: 2, state: "retiring" as const, createdAt: new Date(t0 + DAY).toISOString() },
    { epoch: 3, state: "active" as const, createdAt: new Date(t0 + 8 * DAY).toISOString() },
  ];
  const w = forwardSecrecyWindow(epochs, t0 + 9 * DAY, policy);
  assertEquals([w.seconds, w.oldest_epoch, w.bound_seconds, w.warning], [
    8 * 86400,
    2,
    8 * 86400,
    undefined,
  ]);
  const late = forwardSecrecyWindow(epochs, t0 + 9 * DAY + 1000, policy);
  assert(late.warning?.includes("overdue"));
  assertEquals(
    forwardSecrecyWindow(epochs, t0 + 99 * DAY, { ...policy, rotateEveryMs: null }).warning,
    undefined,
  );
});

/** An in-memory K3EpochCounter. */
function fakeRecorder() {
  let epoch = 1;
  const destroyed = new Set<number>();
  const calls: string[] = [];
  return {
    calls,
    currentEpoch: () => Promise.resolve(epoch),
    advanceEpoch: () => {
      calls.push(`advance ${epoch + 1}`);
      return Promise.resolve({ epoch: ++epoch, txHash: "0x01" });
    },
    recordEpochDestroyed: (e: number) => {
      if (destroyed.has(e)) return Promise.reject(new Error("EpochAlreadyDestroyed"));
      calls.push(`destroyed ${e}`);
      destroyed.add(e);
      return Promise.resolve({ txHash: "0x02" });
    },
    epochInfo: (e: number) => Promise.resolve({ destroyedAt: destroyed.has(e) ? 1 : 0 }),
  };
}

Deno.test("a crash between the keystore step and the chain step: the resume records it, once", async () => {
  const recorder = fakeRecorder();
  await using env = await lifecycleEnv({ recorder });
  const s = env.scheduler;
  env.clock.advance(7 * DAY);
  // A pass that died right after the keystore rotated (nothing on chain, nothing pending).
  await s.store.update((st) => {
    st.running = {
      step: "rotate",
      started_at: env.clock.now().toISOString(),
      holder: "dead",
      from_active: 1,
      reason: "schedule",
    };
  });
  await env.keystore.rotate();
  const resumed = await s.tick();
  assertEquals([resumed.step, resumed.outcome], ["rotate", "adopted"]);
  assertEquals(recorder.calls, ["advance 2"]);
  assertEquals(await env.epochs.admin.pending(), []);

  // The same after the destruction's keystore step; and a resume of a step whose chain record
  // did land records nothing more.
  env.clock.advance(HOUR);
  assertEquals((await s.tick()).step, "reencrypt");
  env.clock.advance(DAY);
  await env.epochs.admin.census({ scope: "global" });
  await s.store.update((st) => {
    st.running = {
      step: "destroy",
      started_at: env.clock.now().toISOString(),
      holder: "dead",
      epoch: 1,
    };
  });
  await env.epochs.admin.destroy(1); // records it on chain itself
  await s.store.update((st) => {
    st.running = {
      step: "destroy",
      started_at: env.clock.now().toISOString(),
      holder: "dead",
      epoch: 1,
    };
  });
  const adopted = await s.tick();
  assertEquals([adopted.step, adopted.outcome], ["destroy", "adopted"]);
  assertEquals(recorder.calls, ["advance 2", "destroyed 1"]);
  assertEquals(await env.epochs.admin.pending(), []);
  assertEquals((await s.status()).last_destruction?.epoch, 1);

  // A destruction whose chain step never ran: recorded by the resume.
  env.clock.advance(7 * DAY);
  assertEquals((await s.tick()).step, "rotate");
  await s.store.update((st) => {
    st.running = {
      step: "destroy",
      started_at: env.clock.now().toISOString(),
      holder: "dead",
      epoch: 2,
    };
  });
  await env.keystore.destroy(2);
  assertEquals((await s.tick()).outcome, "adopted");
  assertEquals(recorder.calls, ["advance 2", "destroyed 1", "advance 3", "destroyed 2"]);
  assertEquals(await env.epochs.admin.pending(), []);
});

Deno.test("planner: a rotation never follows a rotation while a re-encryption or destroy waits", () => {
  const policy = {
    ...defaultLifecyclePolicy(),
    rotateEveryMs: 5_000,
    reencryptAfterMs: 1_000,
    destroyAfterMs: 3_000,
  };
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const epochs = [
    {
      epoch: 1,
      state: "retiring" as const,
      createdAt: new Date(t0).toISOString(),
      retiredAt: new Date(t0 + 5_000).toISOString(),
    },
    { epoch: 2, state: "active" as const, createdAt: new Date(t0 + 5_000).toISOString() },
  ];
  const state: LifecycleState = {
    running: null,
    epochs: {},
    last_rotation: null,
    last_destruction: null,
    last_sweep_at: null,
    backoff: {},
  };
  const at = t0 + 10_000; // rotation and re-encryption both due
  const plan = (s: LifecycleState) =>
    nextStep({ policy, now: at, epochs, state: s, revocations: null });
  assertEquals(plan(state), { step: "rotate", reason: "schedule" });
  assertEquals(plan({ ...state, last_step: "rotate" }), { step: "reencrypt", epoch: 1 });
  const jobDone = {
    ...state,
    last_step: "reencrypt" as const,
    epochs: { "1": { job_done_at: "x" } },
  };
  assertEquals(plan(jobDone), { step: "rotate", reason: "schedule" });
  assertEquals(plan({ ...jobDone, last_step: "rotate" }), { step: "destroy", epoch: 1 });
  // Nothing else due: the rotation goes ahead even after a rotation.
  assertEquals(
    nextStep({
      policy,
      now: at,
      epochs: [epochs[1]],
      state: { ...state, last_step: "rotate" },
      revocations: null,
    }),
    { step: "rotate", reason: "schedule" },
  );
});

Deno.test("planner: revocations never rotate sooner than AGENTKEYS_ROTATE_REVOKE_GAP after the active epoch began (fifth review)", () => {
  const t0 = Date.parse("2026-01-01T00:00:00Z");
  const epochs = [{ epoch: 2, state: "active" as const, createdAt: new Date(t0).toISOString() }];
  const burst = { first_at: new Date(t0 + 60_000).toISOString(), count: 1 };
  const policy = { ...defaultLifecyclePolicy(), rotateEveryMs: null };
  // The default gap (1 h) holds a revocation a minute after a rotation back until the hour.
  assertEquals(nextRotation(policy, epochs, burst), { at: t0 + HOUR, reason: "revocation" });
  // An old active epoch: only the coalescing window (10 min after the first revocation).
  const later = { first_at: new Date(t0 + 2 * HOUR).toISOString(), count: 3 };
  assertEquals(nextRotation(policy, epochs, later), {
    at: t0 + 2 * HOUR + 600_000,
    reason: "revocation",
  });
  // A gap of 0 leaves the coalescing window alone.
  assertEquals(nextRotation({ ...policy, rotateRevokeGapMs: 0 }, epochs, burst), {
    at: t0 + 60_000 + 600_000,
    reason: "revocation",
  });
});

Deno.test("a destroy someone else did meanwhile (an admin, drop-old-k3) counts as done, not failed", async () => {
  await using env = await lifecycleEnv();
  const admin = env.epochs.admin;
  const s = env.another("racer", {
    admin: {
      overview: (...a) => admin.overview(...a),
      census: (o) => admin.census(o),
      reconcile: () => admin.reconcile(),
      recoverInterrupted: (k, e) => admin.recoverInterrupted(k, e),
      rotate: (o) => admin.rotate(o),
      // The admin's destroy lands between the scheduler's census and its own destroy.
      destroy: async (e, o) => {
        await admin.destroy(e);
        return await admin.destroy(e, o);
      },
    },
  });
  env.clock.advance(7 * DAY);
  await s.tick();
  env.clock.advance(HOUR);
  await s.tick();
  env.clock.advance(DAY);
  const r = await s.tick();
  assertEquals([r.step, r.outcome], ["destroy", "done"]);
  assertEquals((await s.status()).last_destruction?.epoch, 1);
  assertEquals(await s.tick(), { holder: true });
});
