/**
 * SQLite's busy error on the state store (lib/state/_busy.ts): a second connection holds the KV
 * file's write lock (`BEGIN IMMEDIATE` through node:sqlite, as another process's write would),
 * past Deno KV's own ~5 s busy wait. Writes through `KvStateStore` are retried and land once;
 * past the deadline they fail as `state_busy` having written nothing; a lost compare-and-swap
 * and any other error are never retried.
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { KvStateStore, StateBusy } from "../../lib/state/mod.ts";
import { isBusyError, retryingBusy } from "../../lib/state/_busy.ts";
import { publicReason } from "../../lib/reencrypt/_engine.ts";

/** Takes the write lock of the SQLite file at `path` now and gives it back after `ms`. */
function holdWriteLock(path: string, ms: number): Promise<void> {
  const db = new DatabaseSync(path);
  db.exec("BEGIN IMMEDIATE");
  return new Promise((resolve) =>
    setTimeout(() => {
      db.exec("ROLLBACK");
      db.close();
      resolve();
    }, ms)
  );
}

Deno.test("busy: writes meeting another connection's held lock are retried and land once; without attempts left, state_busy and nothing written", async () => {
  const dir = await Deno.makeTempDir();
  // Two files, each with one KV handle that has written before (that handle meets SQLite's busy
  // error after its 5 s wait every time; a handle that never wrote may wait longer instead).
  const [path, other] = [join(dir, "state.kv"), join(dir, "other.kv")];
  const state = await KvStateStore.open(path);
  const noRetry = retryingBusy(await Deno.openKv(other), { deadlineMs: 0 });
  try {
    await state.kv.set(["seed"], 1);
    await noRetry.set(["seed"], 1);
    const started = performance.now();
    const released = Promise.all([holdWriteLock(path, 6_500), holdWriteLock(other, 6_500)]);
    const [sum, set, refused] = await Promise.allSettled([
      state.kv.atomic().check({ key: ["once"], versionstamp: null }).set(["once"], 1)
        .sum(["n"], 1n).commit(),
      state.kv.set(["plain"], "x"),
      noRetry.set(["refused"], "y"),
    ]);
    const refusedAt = performance.now() - started;
    await released;
    assertEquals(sum.status === "fulfilled" && sum.value.ok, true, String(sum));
    assertEquals(set.status, "fulfilled", String((set as PromiseRejectedResult).reason));
    assert(refused.status === "rejected", "the write met the held lock");
    assert(refused.reason instanceof StateBusy, String(refused.reason));
    assertEquals(refused.reason.code, "state_busy");
    assert(isBusyError(refused.reason.cause), "the cause is SQLite's busy error");
    assert(refusedAt >= 4_000, `refused after Deno KV's own wait, not at once (${refusedAt} ms)`);
    // The busy attempts wrote nothing; the retried commit counted once.
    assertEquals((await noRetry.get(["refused"])).value, null);
    assertEquals((await state.kv.get<Deno.KvU64>(["n"])).value?.value, 1n);
    assertEquals((await state.kv.get(["plain"])).value, "x");
  } finally {
    noRetry.close();
    state.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A `Deno.Kv` stand-in whose commits and sets throw `errors` (in turn) before succeeding. */
function failingKv(errors: Error[]): { kv: Deno.Kv; calls: () => number } {
  let calls = 0;
  const next = () => {
    calls++;
    const err = errors.shift();
    if (err) return Promise.reject(err);
    return Promise.resolve({ ok: true as const, versionstamp: "00" });
  };
  const kv = {
    atomic: () => ({ commit: next }),
    set: next,
  } as unknown as Deno.Kv;
  return { kv, calls: () => calls };
}

Deno.test("busy: a commit is re-run after each busy error, until the deadline", async () => {
  const busy = () => new TypeError("database is locked");
  const pauses: number[] = [];
  const retried: string[] = [];
  const fake = failingKv([busy(), busy()]);
  const kv = retryingBusy(fake.kv, {
    pauseMs: (n) => (pauses.push(n), 0),
    onBusy: (what) => retried.push(what),
  });
  assertEquals((await kv.atomic().commit()).ok, true);
  assertEquals([fake.calls(), pauses, retried], [3, [1, 2], ["commit", "commit"]]);

  const exhausted = failingKv(Array.from({ length: 1000 }, busy));
  const err = await assertRejects(
    () => retryingBusy(exhausted.kv, { deadlineMs: 50, pauseMs: () => 10 }).set(["k"], 1),
    StateBusy,
  );
  assert(exhausted.calls() >= 3 && exhausted.calls() <= 7, `${exhausted.calls()} attempts`);
  assert(err.message.endsWith("(set); try again shortly"), err.message);
});

Deno.test("busy: other errors, and a lost compare-and-swap, are never retried", async () => {
  for (const err of [new TypeError("Value too large"), new Error("database is locked")]) {
    const fake = failingKv([err]);
    const thrown = await assertRejects(() => retryingBusy(fake.kv).atomic().commit());
    assertEquals([thrown, fake.calls()], [err, 1], err.message);
    assertEquals(isBusyError(err), false);
  }
  const state = await KvStateStore.open();
  try {
    await state.kv.set(["k"], 1);
    const lost = await state.kv.atomic().check({ key: ["k"], versionstamp: null }).set(["k"], 2)
      .commit();
    assertEquals([lost.ok, (await state.kv.get(["k"])).value], [false, 1]);
  } finally {
    state.close();
  }
});

Deno.test("busy: a job's failed blob says state_busy and to re-run, never internal_error", () => {
  const reason = publicReason(new StateBusy("commit: the state store stayed locked"));
  assert(reason.startsWith("state_busy: ") && reason.includes("re-run"), reason);
});
