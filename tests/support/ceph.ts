/**
 * A throwaway single-node Ceph cluster (RGW on 127.0.0.1) for tests and benchmarks that need a
 * real S3 engine: `scripts/ceph/ensure.sh` installs what is missing, `scripts/ceph/up.sh` starts
 * it in a fresh temp dir on two free ports, `stop()` kills it and removes the dir.
 *
 * Several clusters can run at once (each has its own dir and ports). When Ceph cannot be
 * installed or started, {@linkcode startCeph} throws with the reason and the end of the scripts'
 * output: S3 tests fail loudly, they are never skipped.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { S3BlobStore } from "../../lib/store/mod.ts";

const SCRIPTS = fileURLToPath(new URL("../../scripts/ceph/", import.meta.url));
/** Lines of script output quoted in errors. */
const TAIL_LINES = 40;

/** A running cluster and how to reach its S3 endpoint as its one user. */
export interface CephCluster {
  /** e.g. `http://127.0.0.1:41234` */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The cluster's data, logs and pid files. */
  dir: string;
  /** How long `up.sh` took, in ms. */
  startMs: number;
  /** SIGKILLs the daemons and removes `dir`; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a cluster. Takes about 1.5–3 s once Ceph is installed.
 *
 * @example
 * ```ts
 * const ceph = await startCeph();
 * try {
 *   const store = await freshBucketStore(ceph);
 *   await store.put("k", new Uint8Array([1]));
 * } finally {
 *   await ceph.stop();
 * }
 * ```
 */
export async function startCeph(): Promise<CephCluster> {
  const ensured = await run(["bash", `${SCRIPTS}ensure.sh`], {});
  if (ensured.code !== 0) {
    throw new Error(
      `Ceph is not installed and could not be installed (scripts/ceph/ensure.sh exit ` +
        `${ensured.code}); run it as root or install ceph-mon ceph-osd radosgw uuid-runtime curl\n` +
        tail(ensured.output),
    );
  }
  // A port picked free can be taken before up.sh binds it: try again with new ports once.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      lastError = err as Error;
    }
  }
  throw lastError;
}

async function startOnce(): Promise<CephCluster> {
  const dir = await Deno.makeTempDir({ prefix: "agentkeys-ceph-" });
  const [rgwPort, monPort] = freePorts(2);
  const accessKeyId = `AK${randomAlnum(18).toUpperCase()}`;
  const secretAccessKey = randomAlnum(40);
  const watchdog = startWatchdog(dir);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    watchdog.kill("SIGKILL");
    watchdog.ref(); // an unref'd status would not keep the event loop waiting for it
    await watchdog.status;
    await run(["bash", `${SCRIPTS}down.sh`, dir], { FAST: "1" });
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const started = performance.now();
  const up = await run(["bash", `${SCRIPTS}up.sh`, dir], {
    RGW_PORT: String(rgwPort),
    MON_PORT: String(monPort),
    S3_ACCESS_KEY: accessKeyId,
    S3_SECRET_KEY: secretAccessKey,
    STS_KEY: randomAlnum(16),
  });
  const startMs = Math.round(performance.now() - started);
  if (up.code !== 0) {
    await stop();
    throw new Error(
      `Ceph did not start (scripts/ceph/up.sh exit ${up.code}, ports ${rgwPort}/${monPort})\n` +
        tail(up.output),
    );
  }
  return {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    accessKeyId,
    secretAccessKey,
    region: "us-east-1",
    dir,
    startMs,
    stop,
  };
}

/**
 * A small shell loop that outlives this process if it dies without calling `stop()` (a crash,
 * Ctrl-C, a runner killed on timeout) and then stops the cluster: orphaned daemons would keep
 * memory and ports. `stop()` kills it first.
 */
function startWatchdog(dir: string): Deno.ChildProcess {
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
    'FAST=1 bash "$2" "$3" >/dev/null 2>&1; rm -rf "$3"';
  const child = new Deno.Command("bash", {
    args: ["-c", script, "watchdog", String(Deno.pid), `${SCRIPTS}down.sh`, dir],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Its pending exit status must not keep the test process alive.
  child.unref();
  return child;
}

/**
 * An {@linkcode S3BlobStore} on a new, empty, unversioned bucket of `cluster`.
 *
 * @example
 * ```ts
 * const store = await freshBucketStore(ceph, { maxAttempts: 2 });
 * ```
 */
export async function freshBucketStore(
  cluster: CephCluster,
  options: { maxAttempts?: number; requestTimeoutMs?: number } = {},
): Promise<S3BlobStore> {
  const store = new S3BlobStore({
    endpoint: cluster.endpoint,
    region: cluster.region,
    bucket: `test-${crypto.randomUUID()}`,
    credentials: { accessKeyId: cluster.accessKeyId, secretAccessKey: cluster.secretAccessKey },
    ...options,
  });
  await store.ensureBucket();
  return store;
}

/** Ports free on 127.0.0.1 right now (all listeners held open together so they differ). */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

function randomAlnum(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

async function run(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const [cmd, ...rest] = args;
  // stderr goes into the same pipe so the tail shows the messages in the order they came.
  const child = new Deno.Command("bash", {
    args: ["-c", 'exec "$@" 2>&1', "run", cmd, ...rest],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
  const { code, stdout } = await child.output();
  return { code, output: new TextDecoder().decode(stdout) };
}

function tail(output: string): string {
  const lines = output.trimEnd().split("\n");
  return lines.slice(-TAIL_LINES).join("\n");
}
