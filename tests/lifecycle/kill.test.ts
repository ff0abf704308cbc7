/**
 * Real processes (`_proc.ts`) on one data directory and KV file, on a clock file the test moves:
 * SIGKILL inside every step (rotate, reencrypt, destroy, sweep), each time right after its
 * irreversible part, then a new process resumes — no rotation repeated, no destroy skipped, one
 * tombstone per swept blob, every credential readable. And two processes at once: one acts.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../support/assert.ts";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import {
  credentialLocation,
  memoryLocation,
  openBlob,
  parseBlobKey,
  sealBlob,
} from "../../lib/worker/mod.ts";
import { tempDir } from "../support/tmp.ts";
import { LifecycleStore, TouchingStore } from "../../lib/lifecycle/mod.ts";
import type { Ttls } from "../../lib/lifecycle/_sweep.ts";
import { DAY, HOUR } from "./_env.ts";

const SCRIPT = fileURLToPath(new URL("./_proc.ts", import.meta.url));
const T0 = Date.parse("2026-01-01T00:00:00Z");
const A = "b2".repeat(32);
/** As `_proc.ts` sweeps. */
const TTLS: Ttls = { memory: DAY, inbound: null };

interface Proc {
  child: Deno.ChildProcess;
  lines: string[];
  /** Waits (real time, 60 s at most) for a line matching `pattern`. */
  waitFor(pattern: RegExp): Promise<string>;
  kill9(): Promise<void>;
}

/** What the data directory's lifecycle records say, for a timeout's message. */
async function explain(dir: string): Promise<string> {
  const kv = await Deno.openKv(join(dir, "state.kv"));
  try {
    const store = new LifecycleStore(kv);
    const clock = Number(await Deno.readTextFile(join(dir, "clock.txt")));
    return JSON.stringify({
      clock: new Date(clock).toISOString(),
      lease: await store.leaseHolder(),
      state: await store.read(),
    });
  } catch (err) {
    return `(no state: ${(err as Error).message})`;
  } finally {
    kv.close();
  }
}

function spawn(dir: string, holder: string, hang?: string): Proc {
  const env: Record<string, string> = { NO_COLOR: "1" };
  if (hang) env.HANG = hang;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, dir, holder],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let buffer = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return {
    child,
    lines,
    async waitFor(pattern) {
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        const found = lines.find((l) => pattern.test(l));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(
        `${holder} never printed ${pattern}; it printed:\n${lines.join("\n")}\n` +
          `lifecycle records: ${await explain(dir)}`,
      );
    },
    async kill9() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await reading.catch(() => {});
    },
  };
}

interface Data extends AsyncDisposable {
  dir: string;
  setClock(ms: number): void;
  keystore(): Promise<EpochKeystore>;
  audit(kind: string): Promise<Record<string, unknown>[]>;
}

async function dataDir(): Promise<Data> {
  const tmp = await tempDir("agentkeys-lifecycle-kill-");
  const dir = tmp.path;
  const seal = crypto.getRandomValues(new Uint8Array(32));
  await Deno.writeTextFile(join(dir, "seal.hex"), seal.toHex());
  let clock = T0;
  const setClock = (ms: number) => {
    clock = ms;
    // Renamed into place: a process reading it mid-write would see an empty file (time 0).
    Deno.writeTextFileSync(join(dir, "clock.txt.tmp"), String(ms));
    Deno.renameSync(join(dir, "clock.txt.tmp"), join(dir, "clock.txt"));
  };
  setClock(T0);
  const keystore = () =>
    EpochKeystore.open({
      path: join(dir, "signer/keystore.json"),
      sealKey: seal,
      now: () => new Date(clock),
    });
  return {
    dir,
    setClock,
    keystore,
    async audit(kind) {
      const kv = await Deno.openKv(join(dir, "state.kv"));
      try {
        const out: Record<string, unknown>[] = [];
        for await (
          const e of kv.list<{ kind: string; data: Record<string, unknown> }>({
            prefix: ["audit", "entry"],
          })
        ) if (e.value.kind === kind) out.push(e.value.data);
        return out;
      } finally {
        kv.close();
      }
    },
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

Deno.test("kill -9 in every step: the next process resumes without repeating a rotation or skipping a destroy", async () => {
  await using data = await dataDir();
  const ks = await data.keystore();
  const store = new FsBlobStore(join(data.dir, "blobs"));
  const creds = ["github", "openai", "aws"].map((s) => credentialLocation(A, s));
  const memories = ["a", "b", "c"].map((n) => memoryLocation(A, "notes", n));
  // Written through the worker's store; the memory blobs' last use is the rotation's time, so
  // they are idle (1 d) only once the destroy is due, when the sweep is killed.
  const kv = await Deno.openKv(join(data.dir, "state.kv"));
  const worker = new TouchingStore(store, new LifecycleStore(kv), TTLS, () => T0 + 7 * DAY);
  for (const loc of [...creds, ...memories]) {
    await worker.put(loc.key, sealBlob(ks, loc, new TextEncoder().encode(loc.key)).blob);
  }
  kv.close();
  const lease = 11_000; // _proc.ts's lease (10 s) has expired after this
  let t = T0 + 7 * DAY;

  // rotate: killed after the keystore rotated, before the scheduler noted it.
  data.setClock(t);
  const p1 = spawn(data.dir, "p1", "rotate");
  await p1.waitFor(/^HANG rotate/);
  await p1.kill9();
  await ks.reload();
  assertEquals(ks.activeEpoch, 2);

  // reencrypt: the next process adopts the rotation (no second one), then dies in the job.
  t += lease;
  data.setClock(t);
  const p2 = spawn(data.dir, "p2", "reencrypt");
  await p2.waitFor(/^p2 rotate adopted/);
  t += HOUR;
  data.setClock(t);
  await p2.waitFor(/^HANG reencrypt/);
  await p2.kill9();
  await ks.reload();
  assertEquals(ks.activeEpoch, 2, "no second rotation");

  // destroy: the job is finished or run again, then the process dies right after the erase.
  t += lease;
  data.setClock(t);
  const p3 = spawn(data.dir, "p3", "destroy");
  await p3.waitFor(/^p3 reencrypt (done|adopted) 1/);
  t += DAY;
  data.setClock(t);
  await p3.waitFor(/^HANG destroy/);
  await p3.kill9();
  await ks.reload();
  assertEquals(ks.stateOf(1), "destroyed");

  // sweep: the destruction is adopted; the sweep dies after deleting one idle memory blob.
  t += lease;
  data.setClock(t);
  const p4 = spawn(data.dir, "p4", "sweep");
  await p4.waitFor(/^p4 destroy adopted 1/);
  await p4.waitFor(/^HANG sweep/);
  await p4.kill9();

  // The last process writes the missing tombstone and finishes the sweep.
  t += lease;
  data.setClock(t);
  const p5 = spawn(data.dir, "p5");
  await p5.waitFor(/^p5 sweep done/);
  await p5.kill9();

  await ks.reload();
  assertEquals(ks.list().map((e) => [e.epoch, e.state]), [[1, "destroyed"], [2, "active"]]);
  assertEquals((await data.audit("epoch_rotated")).length, 1);
  assertEquals((await data.audit("epoch_destroyed")).length, 1);
  const tombstones = await data.audit("ttl_swept");
  const swept = tombstones.map((e) => e.key).sort();
  assertEquals(swept, memories.map((m) => m.key).sort(), "one tombstone per swept blob");
  // The blob deleted just before the kill got its tombstone from the next process.
  assertEquals(tombstones.filter((e) => e.after_crash === true).length, 1);
  for (const loc of creds) {
    const opened = openBlob(ks, parseBlobKey(loc.key)!, (await store.get(loc.key))!.body);
    assertEquals([opened.epoch, new TextDecoder().decode(opened.plaintext)], [2, loc.key]);
  }
  for (const loc of memories) assertEquals(await store.head(loc.key), null);
  const outcomes = (await data.audit("lifecycle_step")).map((e) => `${e.step}:${e.outcome}`);
  for (const o of ["rotate:adopted", "destroy:adopted"]) assert(outcomes.includes(o), o);
  assert(!outcomes.includes("rotate:done"), "the killed rotation was never run again");
  await store.close();
});

Deno.test("two processes on one data directory: only the lease holder acts; the other takes over when it dies", async () => {
  await using data = await dataDir();
  const ks = await data.keystore();
  const store = new FsBlobStore(join(data.dir, "blobs"));
  const cred = credentialLocation(A, "github");
  await store.put(cred.key, sealBlob(ks, cred, new TextEncoder().encode("x")).blob);
  // Both start before anything is due (a sweep is due at once: whoever holds the lease runs it).
  const a = spawn(data.dir, "a");
  const b = spawn(data.dir, "b");
  let holder: Proc | undefined;
  for (let i = 0; i < 3000 && !holder; i++) {
    await new Promise((r) => setTimeout(r, 20));
    holder = [a, b].find((p) => p.lines.some((l) => / sweep done/.test(l)));
  }
  assert(holder, "neither process ran the first sweep");
  // A jump of seven days outlives the first holder's lease on the fake clock (it renews each
  // pass, never ahead of the clock), so either process may take the lease at the jump: the one
  // that rotates is the holder from then on, and the other must do nothing.
  const marks = new Map([a, b].map((p) => [p, p.lines.length]));
  const since = (p: Proc) => p.lines.slice(marks.get(p));
  data.setClock(T0 + 7 * DAY);
  let rotator: Proc | undefined;
  for (let i = 0; i < 3000 && !rotator; i++) {
    await new Promise((r) => setTimeout(r, 20));
    rotator = [a, b].find((p) => since(p).some((l) => / rotate done/.test(l)));
  }
  assert(rotator, "neither process rotated after the clock passed the rotation time");
  holder = rotator;
  const other = holder === a ? b : a;
  // Passes keep running on both for a while: still one rotation, and nothing from the other.
  await new Promise((r) => setTimeout(r, 500));
  assertEquals(since(other).filter((l) => / (rotate|reencrypt|destroy|sweep) /.test(l)), []);
  await ks.reload();
  assertEquals(ks.activeEpoch, 2);
  assertEquals((await data.audit("epoch_rotated")).length, 1);
  // The holder dies; once its lease expired the other one runs the next step.
  await holder.kill9();
  data.setClock(T0 + 7 * DAY + HOUR);
  await other.waitFor(/reencrypt done 1/);
  await other.kill9();
  await ks.reload();
  assertEquals(ks.activeEpoch, 2);
  await store.close();
});
