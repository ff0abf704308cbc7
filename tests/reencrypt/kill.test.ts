/**
 * Crash safety of the headless job: `scripts/reencrypt.ts` is SIGKILLed at random points, the
 * data dir is checked for torn or lost blobs, and a re-run must finish the work.
 *
 * 20 runs by default (about a second each); `AGENTKEYS_KILL_RUNS=200` for a longer soak.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../support/assert.ts";
import { envelopeEpochTag } from "../../lib/crypto/mod.ts";
import { openBlob, parseBlobKey } from "../../lib/worker/mod.ts";
import { OPERATOR } from "./fixture.ts";
import { type DataDir, makeDataDir } from "./datadir.ts";
import { killAtRandomPoint } from "../support/kill.ts";

const SCRIPT = fileURLToPath(new URL("../../scripts/reencrypt.ts", import.meta.url));
const RUNS = Number(Deno.env.get("AGENTKEYS_KILL_RUNS") ?? "20");
const BLOBS = 240;
const ARGS = ["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2"];

/** This process's environment without any AgentKeys or AWS setting, plus the data dir's. */
function childEnv(data: DataDir): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("AGENTKEYS_") && !k.startsWith("AWS_")) env[k] = v;
  }
  return { ...env, ...data.env, NO_COLOR: "1" };
}

function spawn(data: DataDir, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...ARGS, ...extra],
    env: childEnv(data),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

/** Each blob at epoch 1 or 2 and decrypting to its plaintext; returns how many are at 2. */
async function checkConsistent(data: DataDir): Promise<number> {
  const h = await data.open();
  try {
    let moved = 0;
    for (const key of data.keys) {
      const stored = await h.store.get(key);
      assert(stored !== null, `${key} disappeared`);
      const epoch = envelopeEpochTag(stored.body);
      assert(epoch === 1 || epoch === 2, `${key} at ${epoch}`);
      if (epoch === 2) moved++;
      const plain = openBlob(h.keystore, parseBlobKey(key)!, stored.body).plaintext;
      assertEquals(new TextDecoder().decode(plain), data.plaintexts.get(key), key);
    }
    return moved;
  } finally {
    await h.close();
  }
}

Deno.test(`kill -9: ${RUNS} runs killed at random points, each re-run finishes`, async () => {
  const points = { beforeWork: 0, midRun: 0, afterEnd: 0 };
  for (let run = 0; run < RUNS; run++) {
    await using data = await makeDataDir(BLOBS);
    const status = await killAtRandomPoint(
      spawn(data, ["--concurrency", String(1 + (run % 8))]),
      run,
      { fromSpawnMs: 900, afterOutputMs: 150, firstOutputTimeoutMs: 5000 },
    );
    const moved = await checkConsistent(data);
    if (status.signal !== "SIGKILL" || moved === BLOBS) points.afterEnd++;
    else if (moved === 0) points.beforeWork++;
    else points.midRun++;

    const rerun = spawn(data);
    const [out, err, rerunStatus] = await Promise.all([
      readAll(rerun.stdout),
      readAll(rerun.stderr),
      rerun.status,
    ]);
    assertEquals(rerunStatus.code, 0, `run ${run}: ${err}`);
    assert(/^summary succeeded: /m.test(out), out.slice(-300));
    await data.verify(2);
    const h = await data.open();
    try {
      const jobs = await h.runner.list(10);
      assertEquals(jobs[0].state, "succeeded");
      assert(!jobs.some((j) => j.state === "running"), "no job left running");
      for (const j of jobs.slice(1)) {
        // A killed job is recovered as aborted (or it finished before the kill).
        assert(j.state === "aborted" || j.state === "succeeded", `${j.job_id} ${j.state}`);
        if (j.state === "aborted") assert(j.error?.startsWith("abandoned"), j.error);
      }
    } finally {
      await h.close();
    }
  }
  console.log(`kill points: ${JSON.stringify(points)}`);
  assert(points.midRun >= Math.min(3, RUNS / 4), `only ${points.midRun} kills landed mid-run`);
});
