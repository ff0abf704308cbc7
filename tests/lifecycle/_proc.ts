/**
 * A lifecycle process for the crash and lease tests: opens a data directory (fs store, keystore,
 * KV file through `KvStateStore.open`, as the service does: another process's busy SQLite is
 * retried) and runs the scheduler's passes every 20 ms on a clock read from a file (the test
 * moves time by writing it), printing one line per pass that acted. The clock is read once per
 * pass: a jump of a day must not land in the middle of a pass (a sweep planned before the jump
 * would run after it, with blobs a day idler than the plan saw), which real time never does.
 *
 * `HANG=<step>` makes it stop dead inside that step, right after its irreversible part (rotate:
 * the keystore rotated; reencrypt: the job started and recorded; destroy: the key is erased;
 * sweep: a blob deleted, its tombstone not yet written), printing `HANG <step>` — where the test
 * kills it with SIGKILL.
 *
 * Usage: deno run -A tests/lifecycle/_proc.ts <dir> <holder>
 *
 * @module
 */

import { join } from "node:path";
import { EpochKeystore } from "../../lib/signer/mod.ts";
import { type BlobStore, FsBlobStore } from "../../lib/store/mod.ts";
import { KvActorIndex, KvAuditLog, KvStateStore } from "../../lib/state/mod.ts";
import { openEpochs } from "../../lib/epochs/mod.ts";
import { LifecycleScheduler, LifecycleStore, TtlSweeper } from "../../lib/lifecycle/mod.ts";
import { defaultLifecyclePolicy } from "../../lib/config/mod.ts";

const [dir, holder] = Deno.args;
const hangAt = Deno.env.get("HANG");
const clockFile = join(dir, "clock.txt");
const readClock = () => Number(Deno.readTextFileSync(clockFile));
let passClock = readClock();
const now = () => new Date(passClock);

async function hang(step: string): Promise<void> {
  if (hangAt !== step) return;
  await Deno.stdout.write(new TextEncoder().encode(`HANG ${step}\n`));
  await new Promise(() => {}); // until SIGKILL
}

const base = new FsBlobStore(join(dir, "blobs"));
// The sweep hangs right after its first delete.
const store: BlobStore = new Proxy(base, {
  get(target, prop) {
    if (prop === "delete") {
      return async (key: string, c?: { ifMatch?: string }) => {
        const removed = await target.delete(key, c);
        await hang("sweep");
        return removed;
      };
    }
    const v = Reflect.get(target, prop);
    return typeof v === "function" ? v.bind(target) : v;
  },
});
const keystore = await EpochKeystore.open({
  path: join(dir, "signer/keystore.json"),
  sealKey: Uint8Array.fromHex(Deno.readTextFileSync(join(dir, "seal.hex")).trim()),
  now,
});
const { kv } = await KvStateStore.open(join(dir, "state.kv"));
const audit = new KvAuditLog(kv, { now });
const epochs = await openEpochs({
  store,
  keystore,
  kv,
  actors: new KvActorIndex(kv),
  audit,
  runner: { now, warn: () => {} },
});
const { admin, runner } = epochs;
const policy = { ...defaultLifecyclePolicy(), ttlMemoryMs: 86400_000 };
const scheduler = new LifecycleScheduler({
  policy,
  admin: {
    overview: (...a) => admin.overview(...a),
    census: (o) => admin.census(o),
    reconcile: () => admin.reconcile(),
    recoverInterrupted: (k, e) => admin.recoverInterrupted(k, e),
    rotate: async (o) => {
      const r = await admin.rotate(o);
      await hang("rotate");
      return r;
    },
    destroy: async (e, o) => {
      const r = await admin.destroy(e, o);
      await hang("destroy");
      return r;
    },
  },
  runner: {
    start: (request) => runner.start(request),
    // The job runs in this process: killed here, it dies with it (or has just finished).
    wait: async (id) => {
      await hang("reencrypt");
      return await runner.wait(id);
    },
    get: (id) => runner.get(id),
    cancel: (id) => runner.cancel(id),
  },
  kv,
  audit,
  sweeper: new TtlSweeper({
    store,
    touches: new LifecycleStore(kv),
    audit,
    ttls: { memory: policy.ttlMemoryMs, inbound: null },
    now: () => now().getTime(),
  }),
  now,
  holder,
  // Short, so the other process's takeover after a kill is quick on the fake clock.
  leaseMs: 10_000,
  warn: (m) => console.error(m),
});
const out = new TextEncoder();
while (true) {
  passClock = readClock();
  const r = await scheduler.tick();
  if (r.step) {
    await Deno.stdout.write(out.encode(`${holder} ${r.step} ${r.outcome} ${r.epoch ?? ""}\n`));
  }
  await new Promise((res) => setTimeout(res, 20));
}
