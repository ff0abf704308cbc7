/**
 * The running service's runtime record, `<dataDir>/service.json` (mode 0600): its pid and the
 * RPC URL of the embedded anvil it started. The embedded chain lives inside the service process
 * (anvil on a port picked at start, state in `chain/`), so a headless command on the same data
 * directory reads this file to reach that anvil instead of starting a second one on the same
 * state file. Written after the chain is up, removed on a clean shutdown; a record left by a
 * crashed service is recognised by its dead pid (and by the RPC probe that follows).
 *
 * @module
 */

import { join } from "node:path";
import { readTextIfExists, writeFileAtomic } from "../fsutil/mod.ts";

/** The file name inside the data directory. */
export const SERVICE_RUNTIME_FILE = "service.json";

/** What `service.json` holds. */
export interface ServiceRuntime {
  pid: number;
  /** Host name of the service's machine (a pid means nothing elsewhere). */
  host: string;
  started_at: string;
  /** The embedded anvil's JSON-RPC URL. */
  rpc_url: string;
}

/** Writes this process's runtime record. */
export async function writeServiceRuntime(
  dataDir: string,
  info: { rpcUrl: string },
): Promise<void> {
  const record: ServiceRuntime = {
    pid: Deno.pid,
    host: Deno.hostname(),
    started_at: new Date().toISOString(),
    rpc_url: info.rpcUrl,
  };
  await writeFileAtomic(
    join(dataDir, SERVICE_RUNTIME_FILE),
    new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n"),
    { mode: 0o600 },
  );
}

/** Removes the runtime record if it is this process's. */
export async function removeServiceRuntime(dataDir: string): Promise<void> {
  const current = await readServiceRuntime(dataDir);
  if (current?.pid === Deno.pid && current.host === Deno.hostname()) {
    await Deno.remove(join(dataDir, SERVICE_RUNTIME_FILE)).catch(() => {});
  }
}

/** The runtime record, or `null` when there is none or it cannot be parsed. */
export async function readServiceRuntime(dataDir: string): Promise<ServiceRuntime | null> {
  const text = await readTextIfExists(join(dataDir, SERVICE_RUNTIME_FILE));
  if (text === undefined) return null;
  try {
    const r = JSON.parse(text);
    const ok = typeof r === "object" && r !== null && Number.isSafeInteger(r.pid) &&
      typeof r.host === "string" && typeof r.rpc_url === "string" &&
      /^https?:\/\/\S+$/.test(r.rpc_url);
    return ok ? r as ServiceRuntime : null;
  } catch {
    return null;
  }
}

/**
 * Whether the process that wrote `record` may still run: `false` only when it is on this host
 * and `/proc/<pid>` is gone (Linux); elsewhere the RPC probe decides.
 */
export function runtimeMayBeAlive(record: ServiceRuntime): boolean {
  if (record.host !== Deno.hostname()) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return true; // no /proc: cannot tell
  }
  try {
    Deno.statSync(`/proc/${record.pid}`);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}
