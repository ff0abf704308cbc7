import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import {
  type BlobEvent,
  InvalidReencryptParams,
  runReencrypt,
  SessionExpired,
} from "../../lib/reencrypt/mod.ts";
import type { ReencryptEvent } from "../../lib/state/mod.ts";
import {
  type BlobStore,
  PreconditionFailed,
  StoreCredentialsExpired,
} from "../../lib/store/mod.ts";
import { parseBlobKey, sealBlob } from "../../lib/worker/mod.ts";
import {
  AGENT_1,
  CountingStore,
  type Env,
  makeEnv,
  mixedFixture,
  OPERATOR,
  simpleFixture,
  STRANGER,
} from "./fixture.ts";

function collect() {
  const events: ReencryptEvent[] = [];
  const blobs = new Map<string, BlobEvent>();
  return {
    events,
    blobs,
    sink: (e: ReencryptEvent) => {
      events.push(e);
      if (e.event === "blob") {
        assert(!blobs.has(e.data.key), `one event per blob: ${e.data.key}`);
        blobs.set(e.data.key, e.data);
      }
    },
  };
}

function deps(env: Env, store: BlobStore = env.store) {
  return { store, keys: env.keystore, actors: env.actors, ledger: env.ledger };
}

Deno.test("engine: every outcome on a mixed fixture, across classes and actors", async () => {
  await using env = await makeEnv();
  const m = await mixedFixture(env);
  const before = await env.snapshot();
  const c = collect();
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 2, newEpoch: 3, concurrency: 4 },
    deps(env),
    c.sink,
  );
  for (const key of m.old) {
    assertEquals(c.blobs.get(key)?.outcome, "reencrypted", key);
    assertEquals(c.blobs.get(key)?.from_epoch, 2);
    assertEquals(await env.read(key), { epoch: 3, plaintext: env.plaintexts.get(key)! });
  }
  for (const key of m.fresh) assertEquals(c.blobs.get(key)?.outcome, "skipped", key);
  for (const key of m.other) {
    assertEquals(c.blobs.get(key)?.outcome, "other-epoch", key);
    assertEquals(c.blobs.get(key)?.from_epoch, 1);
  }
  const tampered = c.blobs.get(m.tampered)!;
  assertEquals(tampered.outcome, "failed");
  // A credential of tag 2 that does not authenticate cannot be told from a wallet-keyed blob
  // (issue 13): not counted under epoch 2, never rewritten.
  assertMatch(tampered.reason!, /^legacy_or_damaged: auth_failed/);
  assertEquals(tampered.from_epoch, null);
  assertEquals(c.blobs.get(m.malformed)?.outcome, "failed");
  assertMatch(c.blobs.get(m.malformed)!.reason!, /^malformed_key/);
  assertEquals(c.blobs.get(m.short)?.outcome, "failed");
  assertMatch(c.blobs.get(m.short)!.reason!, /^too_short/);
  // Failed, other-epoch and foreign blobs are byte-for-byte untouched.
  const after = await env.snapshot();
  for (const key of [m.tampered, m.malformed, m.short, ...m.other, ...m.foreign, ...m.fresh]) {
    assertEquals(after.get(key), before.get(key), key);
  }
  assertEquals(c.blobs.size, m.old.length + m.fresh.length + m.other.length + 3);
  assert(!m.foreign.some((k) => c.blobs.has(k)), "another operator's blobs are not listed");
  const summary = c.events.at(-1)!;
  assertEquals(summary.event, "summary");
  assertEquals(result.state, "failed");
  assertEquals(
    {
      reencrypted: result.reencrypted,
      would: result.would_reencrypt,
      skipped: result.skipped,
      other: result.other_epoch,
      failed: result.failed,
    },
    { reencrypted: 15, would: 0, skipped: 3, other: 3, failed: 3 },
  );
  assertEquals(result.listed, c.blobs.size);
  const agent = c.blobs.get(m.old.find((k) => k.includes(AGENT_1.slice(2)))!)!;
  assertEquals(agent.actor_omni, AGENT_1);
  // Events never carry plaintext.
  const serialized = JSON.stringify(c.events);
  for (const plaintext of env.plaintexts.values()) assert(!serialized.includes(plaintext));
  // The rewrites were recorded under the new epoch.
  assert((await env.ledger.lastWrite(3)) !== undefined);
});

Deno.test("engine: idempotent — a second run reports everything skipped", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 30);
  const first = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    deps(env),
    () => {},
  );
  assertEquals([first.state, first.reencrypted], ["succeeded", 30]);
  const snapshot = await env.snapshot();
  const c = collect();
  const second = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    deps(env),
    c.sink,
  );
  assertEquals(second.state, "succeeded");
  assertEquals([second.skipped, second.reencrypted, second.failed], [30, 0, 0]);
  for (const key of keys) assertEquals(c.blobs.get(key)?.from_epoch, 2);
  assertEquals(await env.snapshot(), snapshot, "the second run wrote nothing");
});

Deno.test("engine: dry run reads only the first byte of each blob and writes nothing", async () => {
  await using env = await makeEnv();
  const m = await mixedFixture(env);
  const before = await env.snapshot();
  const counting = new CountingStore(env.store);
  const c = collect();
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 2, newEpoch: 3, dryRun: true },
    deps(env, counting),
    c.sink,
  );
  assertEquals(counting.counts.get, 0, "no whole-blob reads");
  assertEquals(counting.counts.put + counting.counts.delete, 0, "no writes");
  // Every blob but the malformed key (refused without reading) was read once, one byte.
  assertEquals(counting.counts.getRange, result.listed - 1);
  assertEquals(await env.snapshot(), before);
  assertEquals(result.would_reencrypt, m.old.length + 1, "the tampered blob looks old too");
  assertEquals(c.blobs.get(m.old[0])?.outcome, "would-reencrypt");
  assertEquals(c.blobs.get(m.fresh[0])?.outcome, "skipped");
  assertEquals(c.blobs.get(m.other[0])?.outcome, "other-epoch");
  assertEquals(c.blobs.get(m.short)?.outcome, "failed");
  assertEquals(result.reencrypted, 0);
});

Deno.test("engine: refuses bad parameters before touching the store", async () => {
  await using env = await makeEnv();
  await mixedFixture(env); // 1, 2 retiring; 3 active
  const counting = new CountingStore(env.store);
  const cases: [Record<string, unknown>, string][] = [
    [{ oldEpoch: 3, newEpoch: 3 }, "both 3"],
    [{ oldEpoch: 2, newEpoch: 1 }, "not active"],
    [{ oldEpoch: 3, newEpoch: 3, operatorOmni: "0x12" }, "operator omni"],
    [{ oldEpoch: 7, newEpoch: 3 }, "epoch 7 does not exist"],
    [{ oldEpoch: 2, newEpoch: 9 }, "epoch 9 does not exist"],
    [{ oldEpoch: 0, newEpoch: 3 }, "old epoch must be"],
    [{ oldEpoch: 2, newEpoch: 3, concurrency: 0 }, "concurrency"],
    [{ oldEpoch: 2, newEpoch: 3, classes: ["secrets"] }, "unknown data class"],
    [{ oldEpoch: 2, newEpoch: 3, classes: [] }, "at least one"],
  ];
  for (const [params, message] of cases) {
    await assertRejects(
      () =>
        runReencrypt(
          { operatorOmni: OPERATOR, ...params } as never,
          deps(env, counting),
          () => {},
        ),
      InvalidReencryptParams,
      message,
    );
  }
  await env.keystore.rotate(); // 4 active, 3 retiring: old = 4 is not retiring
  await assertRejects(
    () => runReencrypt({ operatorOmni: OPERATOR, oldEpoch: 4, newEpoch: 3 }, deps(env), () => {}),
    InvalidReencryptParams,
  );
  assertEquals(Object.values(counting.counts).reduce((a, b) => a + b), 0);
});

Deno.test("engine: a writer storing new versions during the run loses no update", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 60);
  const latest = new Map<string, string>();
  let version = 0;
  // The vault's store path: seal under the active epoch, unconditional put.
  const writerPut = async (key: string) => {
    const plaintext = `writer version ${++version} of ${key}`;
    const loc = parseBlobKey(key)!;
    const { blob } = sealBlob(env.keystore, loc, new TextEncoder().encode(plaintext));
    await env.store.put(key, blob);
    latest.set(key, plaintext);
  };
  let cas = 0;
  const faulty = new FaultyStore(env.store, {
    // Every third compare-and-swap finds that a writer stored a new version after the engine's
    // read: the CAS must fail and the newer version must survive.
    beforePut: async (key, conditions) => {
      if (conditions?.ifMatch !== undefined && ++cas % 3 === 0) await writerPut(key);
    },
  });
  let stop = false;
  const background = (async () => {
    for (let i = 0; !stop; i++) {
      await writerPut(keys[(i * 7) % keys.length]);
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2, concurrency: 8 },
    deps(env, faulty),
    () => {},
  );
  stop = true;
  await background;
  assertEquals(result.state, "succeeded");
  assert(latest.size > 20, "the writer really interleaved");
  for (const key of keys) {
    const { epoch, plaintext } = await env.read(key);
    assertEquals(epoch, 2, key);
    assertEquals(plaintext, latest.get(key) ?? env.plaintexts.get(key), key);
  }
});

Deno.test("engine: compare-and-swap that keeps losing is reported failed, not forced", async () => {
  await using env = await makeEnv();
  const [key] = await simpleFixture(env, 1);
  const before = await env.snapshot();
  const faulty = new FaultyStore(env.store, {
    fail: (op) => (op === "put" ? new PreconditionFailed(key) : undefined),
  });
  const c = collect();
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    deps(env, faulty),
    c.sink,
  );
  assertEquals(result.state, "failed");
  assertMatch(c.blobs.get(key)!.reason!, /^contended/);
  assertEquals(await env.snapshot(), before);
});

Deno.test("engine: expired store credentials abort the run at once; a re-run finishes", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 80);
  let expiredAt = -1;
  let writesAfterExpiry = 0;
  const faulty = new FaultyStore(env.store, {
    fail: (op, _key, n) => {
      if (expiredAt >= 0 && op === "put") writesAfterExpiry++;
      if (n >= 60) {
        if (expiredAt < 0) expiredAt = n;
        return new StoreCredentialsExpired("ExpiredToken: the security token expired");
      }
    },
  });
  const c = collect();
  const first = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2, concurrency: 4 },
    deps(env, faulty),
    c.sink,
  );
  assertEquals(first.state, "aborted");
  assertMatch(first.error!, /credentials_expired/);
  assert(first.reencrypted > 0 && first.reencrypted < 80, `${first.reencrypted}`);
  // In-flight operations may reach the store after the first expiry, but they all fail there
  // too; what matters is that no put was *issued* beyond the handful already in flight.
  assert(writesAfterExpiry <= 4, `puts after expiry: ${writesAfterExpiry}`);
  assertEquals(first.failed, 0, "the blobs it stopped on are not failures");
  assertEquals(c.events.at(-1)?.event, "summary");
  const second = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    deps(env),
    () => {},
  );
  assertEquals(second.state, "succeeded");
  assertEquals(second.reencrypted + second.skipped, 80);
  assertEquals(second.skipped, first.reencrypted);
  for (const key of keys) {
    assertEquals(await env.read(key), { epoch: 2, plaintext: env.plaintexts.get(key)! });
  }
});

Deno.test("engine: a session-expired error from the actor directory aborts", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 3);
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    {
      store: env.store,
      keys: env.keystore,
      actors: { actorsOf: () => Promise.reject(new SessionExpired()) },
    },
    () => {},
  );
  assertEquals([result.state, result.listed], ["aborted", 0]);
});

Deno.test("engine: cancelling through the signal stops the run; state cancelled", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 60);
  const controller = new AbortController();
  let seen = 0;
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2, concurrency: 2, signal: controller.signal },
    deps(env),
    (e) => {
      if (e.event === "blob" && ++seen === 10) controller.abort();
    },
  );
  assertEquals(result.state, "cancelled");
  assert(result.reencrypted >= 10 && result.reencrypted < 60, `${result.reencrypted}`);
});

Deno.test('engine: operator "all" scans every actor; classes narrow the scan', async () => {
  await using env = await makeEnv();
  const m = await mixedFixture(env);
  const c = collect();
  const result = await runReencrypt(
    { operatorOmni: "all", oldEpoch: 2, newEpoch: 3, classes: ["credentials"] },
    deps(env),
    c.sink,
  );
  for (const key of m.foreign) assertEquals(c.blobs.get(key)?.outcome, "reencrypted");
  assertEquals(c.blobs.get(m.foreign[0])?.actor_omni, STRANGER);
  for (const key of c.blobs.keys()) assertMatch(key, /\/credentials\//);
  assert(!c.blobs.has(m.short), "inbound is not in the classes");
  assertEquals(result.failed, 2, "tampered and malformed credentials");
  // The unlisted memory blobs stay at the old epoch.
  const memory = m.old.find((k) => k.includes("/memory/"))!;
  assertEquals(await env.tag(memory), 2);
});

Deno.test("engine: progress events are throttled and the summary comes last", async () => {
  await using env = await makeEnv();
  await simpleFixture(env, 20);
  let clock = 0;
  const c = collect();
  await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2, concurrency: 1 },
    { ...deps(env), now: () => (clock += 40) },
    c.sink,
  );
  const progress = c.events.filter((e) => e.event === "progress");
  // ~20 blobs × ≥ 80 ms of fake time each, one progress per ≥ 250 ms, plus the final one.
  assert(progress.length >= 3 && progress.length < 20, `${progress.length} progress events`);
  assertEquals(c.events.at(-1)?.event, "summary");
  const last = progress.at(-1)!.data as { listed: number; done: number };
  assertEquals([last.listed, last.done], [20, 20]);
});

Deno.test("engine: a store error on one blob fails that blob and the rest continue", async () => {
  await using env = await makeEnv();
  const keys = await simpleFixture(env, 10);
  const faulty = new FaultyStore(env.store, {
    fail: (op, key) =>
      op === "get" && key === keys[3] ? new Error("disk hiccup on one object") : undefined,
  });
  const c = collect();
  const logged: string[] = [];
  const result = await runReencrypt(
    { operatorOmni: OPERATOR, oldEpoch: 1, newEpoch: 2 },
    { ...deps(env, faulty), warn: (m: string) => logged.push(m) },
    c.sink,
  );
  assertEquals([result.state, result.failed, result.reencrypted], ["failed", 1, 9]);
  assertEquals(await env.tag(keys[3]), 1);
  // The event says that it failed; what the store said goes to the service log.
  assertMatch(c.blobs.get(keys[3])!.reason!, /^internal_error/);
  assert(logged.some((m) => m.includes(keys[3]) && m.includes("disk hiccup")), logged.join());
});
