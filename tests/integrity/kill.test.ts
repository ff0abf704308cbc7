/**
 * Crash safety of pointers: a writer (`_writer.ts`, the service's store) is SIGKILLed at random
 * points; after each kill the data directory is reopened and every key read through the checked
 * store. No false alarm (every read passes), no lost write (each key holds the bytes of its last
 * acknowledged operation, or of the one in flight at the kill), pointers and store agree.
 *
 * `AGENTKEYS_KILL_RUNS` (default 20) on the fs store; 5 runs on Ceph RGW (S3).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../support/assert.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";
import { tempDir } from "../support/tmp.ts";
import { startCeph } from "../support/ceph.ts";

const WRITER = fileURLToPath(new URL("./_writer.ts", import.meta.url));
const RUNS = Number(Deno.env.get("AGENTKEYS_KILL_RUNS") ?? "20");

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("AGENTKEYS_") && !k.startsWith("AWS_")) env[k] = v;
  }
  return { ...env, ...extra, NO_COLOR: "1" };
}

/** Per key: the last acknowledged value (`null`: deleted) and the one in flight, if any. */
interface KeyLog {
  done?: string | null;
  inFlight?: string | null;
}

/** Runs the writer, kills it after `ms` of writing, and returns what it acknowledged. */
async function runAndKill(env: Record<string, string>, ms: number): Promise<Map<string, KeyLog>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER],
    env: childEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const logs = new Map<string, KeyLog>();
  let buffered = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => ready = r);
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") {
          ready();
          continue;
        }
        const [phase, op, key, sha] = line.split(" ");
        const value = op === "del" ? null : sha;
        const log = logs.get(key) ?? {};
        if (phase === "start") log.inFlight = value;
        else {
          log.done = value;
          delete log.inFlight;
        }
        logs.set(key, log);
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  await Promise.race([isReady, child.status]);
  await new Promise((r) => setTimeout(r, ms));
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  const status = await child.status;
  await reading;
  const err = await stderr;
  assert(status.signal === "SIGKILL", `writer ended on its own (${status.code}): ${err}`);
  return logs;
}

/**
 * Reopens the data dir and checks every key the writer touched. Returns what each key holds now
 * (its SHA-256, `null` when absent).
 */
async function checkAll(
  env: Record<string, string>,
  logs: Map<string, KeyLog>,
): Promise<Map<string, string | null>> {
  const now = new Map<string, string | null>();
  const core = await openDataDir(loadConfig(env), { create: false });
  try {
    for (const [key, log] of logs) {
      const stored = await core.store.get(key); // throws IntegrityMismatch on a false alarm
      const found = stored === null ? null : sha256Hex(stored.body);
      const allowed = [log.done, ...("inFlight" in log ? [log.inFlight] : [])];
      assert(
        allowed.some((v) => v === found || (v === undefined && found === null)),
        `${key}: found ${found}, expected one of ${JSON.stringify(allowed)} (lost write)`,
      );
      now.set(key, found);
      const ptr = await core.pointers.get(key);
      if (found !== null) assertEquals(ptr?.sha256, found, `${key}: pointer and store disagree`);
      else assert(ptr === null || ptr.sha256 === null, `${key}: pointer claims missing bytes`);
    }
    assert((await core.state.kv.get(["audit", "head"])).value !== null);
    return now;
  } finally {
    await core.close();
  }
}

async function killRuns(env: Record<string, string>, runs: number): Promise<void> {
  let merged = new Map<string, KeyLog>();
  for (let run = 0; run < runs; run++) {
    const logs = await runAndKill(env, 30 + Math.random() * 400);
    // A later run's log of a key supersedes the earlier one; untouched keys keep theirs.
    for (const [key, log] of logs) {
      const earlier = merged.get(key);
      merged.set(key, "done" in log || !earlier ? log : { ...earlier, ...log });
    }
    const now = await checkAll(env, merged);
    assert(now.size > 0, "the writer wrote nothing before the kill");
    // What was in flight is settled by that read: the next run starts from what each key holds.
    merged = new Map([...now].map(([key, sha]) => [key, { done: sha }]));
  }
}

Deno.test(`integrity kill -9: ${RUNS} writers killed at random points on fs, no false alarm, no lost write`, async () => {
  await using tmp = await tempDir("agentkeys-kill-");
  const env = {
    AGENTKEYS_DATA_DIR: tmp.path,
    AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
    AGENTKEYS_INTEGRITY: "strict",
  };
  await killRuns(env, RUNS);
});

Deno.test("integrity kill -9: 5 writers killed at random points on Ceph RGW (S3)", async () => {
  const ceph = await startCeph();
  try {
    await using tmp = await tempDir("agentkeys-kill-s3-");
    const env = {
      AGENTKEYS_DATA_DIR: tmp.path,
      AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
      AGENTKEYS_INTEGRITY: "strict",
      AGENTKEYS_S3_ENDPOINT: ceph.endpoint,
      AGENTKEYS_S3_BUCKET: `kill-${crypto.randomUUID().slice(0, 8)}`,
      AGENTKEYS_S3_REGION: ceph.region,
      AWS_ACCESS_KEY_ID: ceph.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
    };
    await killRuns(env, 5);
  } finally {
    await ceph.stop();
  }
});
