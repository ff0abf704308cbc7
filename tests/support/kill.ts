/**
 * kill -9 at a random point of a child process, for crash tests: even runs wait a random time from
 * spawn (the kill may land in start-up, mid-run or after the end), odd runs a random time after the
 * child's first output (so it lands mid-run). Its output is drained so it never blocks on a pipe.
 *
 * @module
 */

import { assert } from "./assert.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where and how long to wait before the kill. */
export interface KillTiming {
  /** Even runs: up to this many ms after spawn. */
  fromSpawnMs: number;
  /** Odd runs: up to this many ms after the first output. */
  afterOutputMs: number;
  /** How long the first output may take (odd runs). */
  firstOutputTimeoutMs: number;
}

/** Kills `child` with SIGKILL at a random point chosen by `run` and `timing`; its final status. */
export async function killAtRandomPoint(
  child: Deno.ChildProcess,
  run: number,
  timing: KillTiming,
): Promise<Deno.CommandStatus> {
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  let drained: Promise<void> | undefined;
  const drain = () =>
    drained ??= (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })();
  if (run % 2 === 0) {
    drain();
    await sleep(Math.random() * timing.fromSpawnMs);
  } else {
    const first = await Promise.race([
      reader.read(),
      sleep(timing.firstOutputTimeoutMs).then(() => null),
    ]);
    assert(first !== null && !first.done, "the child printed something before the kill");
    drain();
    await sleep(Math.random() * timing.afterOutputMs);
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited: a kill after the end is one of the random points too.
  }
  const status = await child.status;
  await drain();
  await stderr;
  return status;
}
