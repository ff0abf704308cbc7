/**
 * Crash safety of `migrate-legacy --delete-legacy`: the process is SIGKILLed at random points
 * (20 runs by default, `AGENTKEYS_KILL_RUNS` for more; on Ceph RGW 5, `AGENTKEYS_KILL_RUNS_CEPH`
 * for more); after each kill no legacy object is gone whose new copy is missing or wrong, and a
 * re-run ends with every credential exactly once, readable, and no legacy object left.
 */

import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../support/assert.ts";
import { BACKUP_PREFIX } from "../../lib/migrate/_engine.ts";
import { type LegacyEnv, legacyEnv } from "./fixture.ts";
import { S3BlobStore } from "../../lib/store/mod.ts";
import { startCeph } from "../support/ceph.ts";
import { killAtRandomPoint } from "../support/kill.ts";

const CHILD = fileURLToPath(new URL("./_child.ts", import.meta.url));
const RUNS = Number(Deno.env.get("AGENTKEYS_KILL_RUNS") ?? "20");
// On Ceph a run costs ~18 s (load 8): 5 in CI; `AGENTKEYS_KILL_RUNS_CEPH=20` for the 20.
const CEPH_RUNS = Number(Deno.env.get("AGENTKEYS_KILL_RUNS_CEPH") ?? "5");
const EXTRA = 60;

function spawn(env: LegacyEnv): Deno.ChildProcess {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("AGENTKEYS_") && !k.startsWith("AWS_")) base[k] = v;
  }
  const spec = JSON.stringify({ operator: env.operator, labels: ["mail-bot", "cal-bot"] });
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, spec, "--", ...env.baseArgs(), "--delete-legacy"],
    env: { ...base, ...env.env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** After any kill: a legacy object is gone only if its credential reads back right. */
async function checkSafe(env: LegacyEnv): Promise<number> {
  const got = await env.readAll();
  let deleted = 0;
  for (const e of env.expected) {
    const id = `${e.actorOmni}/${e.service}`;
    const present = (await env.raw.head(e.key)) !== null;
    const backup = (await env.raw.head(BACKUP_PREFIX + e.key)) !== null;
    const migratedInPlace = e.key.startsWith(`bots/${e.actorOmni.slice(2)}/`);
    if (migratedInPlace) {
      // The collision key: either still the legacy blob, or the new copy (then the legacy bytes
      // are in the backup until it is deleted after verification).
      if (got.has(id)) assertEquals(got.get(id), e.plaintext, id);
      if (!backup && got.has(id)) deleted++;
      continue;
    }
    if (!present) {
      deleted++;
      assertEquals(got.get(id), e.plaintext, `${e.key} deleted but its copy is missing or wrong`);
    } else if (got.has(id)) {
      assertEquals(got.get(id), e.plaintext, id);
    }
  }
  return deleted;
}

Deno.test(`kill -9: migrate-legacy killed at ${RUNS} random points, each re-run finishes exactly once`, async () => {
  await killRuns(RUNS, () => legacyEnv({ extra: EXTRA }));
});

Deno.test(`kill -9 on Ceph RGW: ${CEPH_RUNS} random points, in place on an S3 vault`, async () => {
  const ceph = await startCeph();
  try {
    await killRuns(CEPH_RUNS, () => {
      const bucket = `kill-${crypto.randomUUID().slice(0, 8)}`;
      return legacyEnv({
        extra: EXTRA,
        env: {
          AGENTKEYS_S3_ENDPOINT: ceph.endpoint,
          AGENTKEYS_S3_BUCKET: bucket,
          AGENTKEYS_S3_REGION: ceph.region,
          AWS_ACCESS_KEY_ID: ceph.accessKeyId,
          AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
        },
        rawStore: () =>
          new S3BlobStore({
            endpoint: ceph.endpoint,
            region: ceph.region,
            bucket,
            forcePathStyle: true,
            credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
          }),
      });
    });
  } finally {
    await ceph.stop();
  }
});

async function killRuns(runs: number, make: () => Promise<LegacyEnv>): Promise<void> {
  const points = { beforeWork: 0, midRun: 0, afterEnd: 0 };
  for (let run = 0; run < runs; run++) {
    await using env = await make();
    const status = await killAtRandomPoint(spawn(env), run, {
      fromSpawnMs: 1500,
      afterOutputMs: 120,
      firstOutputTimeoutMs: 10_000,
    });
    const deleted = await checkSafe(env);
    const total = env.expected.length;
    if (status.signal !== "SIGKILL" || deleted === total) points.afterEnd++;
    else if (deleted === 0 && (await env.readAll()).size === 0) points.beforeWork++;
    else points.midRun++;

    const rerun = spawn(env);
    const [out, err, st] = await Promise.all([
      new Response(rerun.stdout).text(),
      new Response(rerun.stderr).text(),
      rerun.status,
    ]);
    assertEquals(st.code, 0, `run ${run}: ${err}\n${out.slice(-2000)}`);
    // Every credential exactly once, readable, right; every legacy object gone.
    const got = await env.readAll();
    const want = env.credentials();
    assertEquals(got.size, want.size);
    for (const [id, e] of want) assertEquals(got.get(id), e.plaintext, id);
    const actors = new Set([...want.values()].map((e) => e.actorOmni.slice(2)));
    for (const actor of actors) {
      const listed = await Array.fromAsync(env.raw.list(`bots/${actor}/credentials/`));
      const services = [...want.values()].filter((e) => e.actorOmni.slice(2) === actor).length;
      assertEquals(listed.length, services, `credentials of ${actor}`);
    }
    for (const e of env.expected) {
      if (!e.key.startsWith(`bots/${e.actorOmni.slice(2)}/`)) {
        assertEquals(await env.raw.head(e.key), null, `${e.key} left behind`);
      }
    }
    assertEquals(await Array.fromAsync(env.raw.list(BACKUP_PREFIX)), []);
  }
  console.log(`kill points: ${JSON.stringify(points)}`);
  assert(points.midRun >= Math.min(3, runs / 4), `only ${points.midRun} kills landed mid-run`);
}
