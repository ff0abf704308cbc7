import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import {
  type Census,
  emptyJobCounts,
  type JobRecord,
  KvActorIndex,
  KvAuditLog,
  KvCensusStore,
  KvJobStore,
  KvWriteLedger,
} from "../../lib/state/mod.ts";
import { canonicalJson, entryHash, GENESIS_HASH } from "../../lib/state/_audit.ts";

const OP = "0x" + "01".repeat(32);
const A1 = "0x" + "02".repeat(32);
const A2 = "0x" + "03".repeat(32);

async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

Deno.test("ledger: last write per epoch only grows; writes index operator → actors", () =>
  withKv(async (kv) => {
    let now = 1_000;
    const ledger = new KvWriteLedger(kv, { now: () => now });
    assertEquals(await ledger.lastWrite(1), undefined);
    await ledger.recordWrite({ epoch: 1, operatorOmni: OP, actorOmni: A1 });
    assertEquals((await ledger.lastWrite(1))?.getTime(), 1_000);
    now = 5_000;
    await ledger.recordWrite({ epoch: 1, operatorOmni: OP, actorOmni: A2 });
    assertEquals((await ledger.lastWrite(1))?.getTime(), 5_000);
    // Another process with a clock behind cannot move it back (atomic max).
    const behind = new KvWriteLedger(kv, { now: () => 2_000 });
    await behind.recordWrite({ epoch: 1, actorOmni: A1 });
    assertEquals((await ledger.lastWrite(1))?.getTime(), 5_000);
    assertEquals(await ledger.lastWrite(2), undefined, "epochs are separate");
    assertEquals(await new KvActorIndex(kv).actorsOf(OP), [OP, A1, A2]);
    await assertRejects(() => ledger.recordWrite({ epoch: 0, actorOmni: A1 }), TypeError);
    await assertRejects(() => ledger.recordWrite({ epoch: 1, actorOmni: "0x12" }), TypeError);
  }));

Deno.test("ledger: 2,000 concurrent writes coalesce into few commits, all recorded", () =>
  withKv(async (kv) => {
    let commits = 0;
    const counting = new Proxy(kv, {
      get(target, prop) {
        if (prop === "atomic") {
          return () => {
            const op = target.atomic();
            const commit = op.commit.bind(op);
            op.commit = () => {
              commits++;
              return commit();
            };
            return op;
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const ledger = new KvWriteLedger(counting);
    const actors = Array.from({ length: 40 }, (_, i) => "0x" + i.toString(16).padStart(64, "0"));
    await Promise.all(
      Array.from(
        { length: 2000 },
        (_, i) => ledger.recordWrite({ epoch: 3, operatorOmni: OP, actorOmni: actors[i % 40] }),
      ),
    );
    assert(commits <= 3, `${commits} commits`);
    assertEquals((await new KvActorIndex(kv).actorsOf(OP)).length, 41);
    assert((await ledger.lastWrite(3)) !== undefined);
  }));

Deno.test("actor index: the operator first, then its own actors only", () =>
  withKv(async (kv) => {
    const index = new KvActorIndex(kv);
    assertEquals(await index.actorsOf(OP), [OP]);
    await index.record(OP, A1);
    await index.record(OP, A1);
    await index.record(A2, A1);
    assertEquals(await index.actorsOf(OP), [OP, A1]);
    assertEquals(await index.actorsOf(A2), [A2, A1]);
  }));

Deno.test("census store: latest global and latest per operator", () =>
  withKv(async (kv) => {
    const store = new KvCensusStore(kv);
    assertEquals(await store.latestGlobal(), null);
    const global: Census = {
      taken_at: "2026-01-01T00:00:00.000Z",
      finished_at: "2026-01-01T00:00:01.000Z",
      scope: "global",
      global: { "1": 3 },
      operator: { "1": 1 },
      operator_omni: OP,
    };
    await store.save(global);
    const opOnly: Census = {
      taken_at: "2026-01-02T00:00:00.000Z",
      finished_at: "2026-01-02T00:00:01.000Z",
      scope: "operator",
      operator: { "2": 1 },
      operator_omni: OP,
    };
    await store.save(opOnly);
    assertEquals(await store.latestGlobal(), global, "an operator census is not global");
    assertEquals(await store.latestFor(OP), opOnly);
    assertEquals(await store.latestFor(A1), null);
  }));

Deno.test("audit: appends form a hash chain that verifies", () =>
  withKv(async (kv) => {
    const audit = new KvAuditLog(kv, { now: () => new Date("2026-01-01T00:00:00Z") });
    assertEquals(await audit.verify(), { ok: true, count: 0, head: GENESIS_HASH });
    const first = await audit.append("epoch_rotated", { active: 2, previous: 1 });
    const second = await audit.append("epoch_destroyed", { epoch: 1, forced: false });
    assertEquals(first.seq, 1);
    assertEquals(first.prev, GENESIS_HASH);
    assertEquals(second.prev, first.hash);
    assertEquals(second.hash, entryHash({ ...second }));
    const result = await audit.verify();
    assertEquals(result, { ok: true, count: 2, head: second.hash });
    assertEquals((await audit.head()).seq, 2);
    const listed = [];
    for await (const e of audit.entries({ after: 1 })) listed.push(e.seq);
    assertEquals(listed, [2]);
  }));

Deno.test("audit: hash is over prev and the canonical entry (key order does not matter)", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } }),
    '{"a":{"c":null,"d":[1,{"y":1,"z":0}]},"b":1}',
  );
  const base = { seq: 1, at: "t", kind: "k", prev: GENESIS_HASH };
  assertEquals(
    entryHash({ ...base, data: { x: 1, y: 2 } }),
    entryHash({ ...base, data: { y: 2, x: 1 } }),
  );
  assert(entryHash({ ...base, data: { x: 1 } }) !== entryHash({ ...base, data: { x: 2 } }));
});

Deno.test("audit: verify detects a modified, a removed and a reordered entry", () =>
  withKv(async (kv) => {
    const audit = new KvAuditLog(kv);
    for (let i = 0; i < 5; i++) await audit.append("test_event", { i });
    // Modified data, hash left as it was.
    const key = ["audit", "entry", 3];
    const third = (await kv.get<Record<string, unknown>>(key)).value!;
    await kv.set(key, { ...third, data: { i: 99 } });
    let result = await audit.verify();
    assertEquals([result.ok, result.brokenAt?.seq, result.count], [false, 3, 2]);
    // Modified and re-hashed: the next entry's prev no longer matches.
    const forged = { ...third, data: { i: 99 } } as never as Parameters<typeof entryHash>[0];
    await kv.set(key, { ...forged, hash: entryHash(forged) });
    result = await audit.verify();
    assertEquals([result.ok, result.brokenAt?.seq], [false, 4]);
    await kv.set(key, third);
    assertEquals((await audit.verify()).ok, true, "restoring it heals the chain");
    // Two entries swapped.
    const second = (await kv.get(["audit", "entry", 2])).value;
    await kv.set(["audit", "entry", 2], third);
    await kv.set(["audit", "entry", 3], second);
    result = await audit.verify();
    assertEquals([result.ok, result.brokenAt?.seq], [false, 2]);
    await kv.set(["audit", "entry", 2], second);
    await kv.set(["audit", "entry", 3], third);
    // Removed from the middle.
    await kv.delete(["audit", "entry", 2]);
    result = await audit.verify();
    assertEquals([result.ok, result.brokenAt?.seq], [false, 2]);
  }));

Deno.test("audit: truncation at the end is caught by the head", () =>
  withKv(async (kv) => {
    const audit = new KvAuditLog(kv);
    for (let i = 0; i < 3; i++) await audit.append("test_event", { i });
    await kv.delete(["audit", "entry", 3]);
    const result = await audit.verify();
    assertEquals(result.ok, false);
  }));

Deno.test("audit: concurrent appends from two logs never fork the chain", () =>
  withKv(async (kv) => {
    const a = new KvAuditLog(kv);
    const b = new KvAuditLog(kv);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append("race", { i })),
    );
    const result = await a.verify();
    assertEquals([result.ok, result.count], [true, 10]);
    await assertRejects(() => a.append("Not Snake", {}), TypeError);
  }));

function job(id: string, state: JobRecord["state"] = "running"): JobRecord {
  return {
    job_id: id,
    state,
    params: {
      operator_omni: OP,
      old_epoch: 1,
      new_epoch: 2,
      dry_run: false,
      concurrency: 4,
      classes: ["credentials"],
    },
    counts: emptyJobCounts(),
    started_at: "2026-01-01T00:00:00.000Z",
    owner: { host: "h", pid: 1, instance: "i" },
    heartbeat_at: "2026-01-01T00:00:00.000Z",
    last_event_id: 0,
  };
}

Deno.test("job store: one lock holder; events chunked and replayed from an id", () =>
  withKv(async (kv) => {
    const store = new KvJobStore(kv);
    assertEquals(await store.create(job("rj_a"), "op"), { ok: true });
    assertEquals(await store.create(job("rj_b"), "op"), { ok: false, holder: "rj_a" });
    assertEquals(await store.get("rj_b"), null, "the loser stored nothing");
    // 3,000 events of ~150 bytes: more than one chunk and more than one commit.
    const events = Array.from({ length: 3000 }, (_, i) => ({
      id: i + 1,
      event: "blob" as const,
      data: {
        key: `bots/${"ab".repeat(32)}/credentials/s-${i}.enc`,
        actor_omni: `0x${"ab".repeat(32)}`,
        data_class: "credentials" as const,
        from_epoch: 2,
        outcome: "skipped" as const,
        ms: 1,
      },
    }));
    const record = { ...job("rj_a"), last_event_id: 3000 };
    await store.append(record, events);
    let chunks = 0;
    for await (const _ of kv.list({ prefix: ["jobs", "events", "rj_a"] })) chunks++;
    assert(chunks > 12, `${chunks} chunks`);
    const ids = [];
    for await (const e of store.events("rj_a", 1234)) ids.push(e.id);
    assertEquals(ids.length, 3000 - 1234);
    assertEquals(ids[0], 1235);
    assertEquals(ids.at(-1), 3000);
    assertEquals((await store.get("rj_a"))?.last_event_id, 3000);
    await store.release("op", "rj_b");
    assertEquals(await store.holder("op"), "rj_a", "only the holder releases");
    await store.release("op", "rj_a");
    assertEquals(await store.holder("op"), null);
  }));

Deno.test("job store: markAborted appends summary and end after the log and frees the lock", () =>
  withKv(async (kv) => {
    const store = new KvJobStore(kv);
    await store.create(job("rj_dead"), "op");
    await store.append({ ...job("rj_dead"), last_event_id: 2 }, [
      {
        id: 1,
        event: "blob",
        data: {
          key: `bots/${"ab".repeat(32)}/credentials/s.enc`,
          actor_omni: `0x${"ab".repeat(32)}`,
          data_class: "credentials",
          from_epoch: 1,
          outcome: "reencrypted",
          ms: 1,
        },
      },
      { id: 2, event: "progress", data: { listed: 1, done: 1, rate_per_s: 1 } },
    ]);
    const aborted = await store.markAborted("rj_dead", "op", "abandoned: test", new Date(0));
    assertEquals(aborted?.state, "aborted");
    const all = [];
    for await (const e of store.events("rj_dead")) all.push([e.id, e.event]);
    assertEquals(all, [[1, "blob"], [2, "progress"], [3, "summary"], [4, "end"]]);
    assertEquals(await store.holder("op"), null);
    assertEquals(await store.markAborted("rj_dead", "op", "again", new Date(0)), null);
  }));

Deno.test("job store: list newest first; prune keeps the newest finished jobs", () =>
  withKv(async (kv) => {
    const store = new KvJobStore(kv);
    for (let i = 0; i < 6; i++) {
      const id = `rj_${String(i).padStart(20, "0")}`;
      await store.append(job(id, i === 0 ? "running" : "succeeded"), [
        { id: 1, event: "end", data: {} },
      ]);
    }
    assertEquals((await store.list(2)).map((j) => j.job_id.slice(-1)), ["5", "4"]);
    assertEquals(await store.prune(3), 2, "jobs 1 and 2 go; running job 0 stays");
    assertEquals((await store.list(10)).map((j) => j.job_id.slice(-1)), ["5", "4", "3", "0"]);
    let events = 0;
    for await (const _ of kv.list({ prefix: ["jobs", "events"] })) events++;
    assertEquals(events, 4);
  }));

Deno.test("job store: retention is per operator; one operator's many jobs never prune another's", () =>
  withKv(async (kv) => {
    const store = new KvJobStore(kv);
    const other = "0x" + "9".repeat(64);
    const add = async (i: number, operator: string) => {
      const record = job(`rj_${String(i).padStart(20, "0")}`, "succeeded");
      record.params.operator_omni = operator;
      await store.append(record, [{ id: 1, event: "end", data: {} }]);
    };
    await add(0, OP); // the oldest job of all, and OP's only one
    for (let i = 1; i <= 5; i++) await add(i, other);
    await add(6, "all");
    assertEquals(await store.prune(2), 3, "the other operator's jobs 1-3 go");
    assertEquals((await store.list(10)).map((j) => j.job_id.slice(-1)), ["6", "5", "4", "0"]);
    assertEquals((await store.list(10, OP)).map((j) => j.job_id.slice(-1)), ["0"]);
    assertEquals((await store.list(1, other)).map((j) => j.job_id.slice(-1)), ["5"]);
    assertEquals((await store.list(10, "all")).map((j) => j.job_id.slice(-1)), ["6"]);
  }));
