/** The sidecar's audit log: one line per request, written before the request is done with. */

import { join } from "node:path";
import { AuditLog } from "../../lib/sidecar/mod.ts";
import type { AuditEntry } from "../../lib/sidecar/_server.ts";
import { assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";

function entry(i: number): AuditEntry {
  return {
    time: new Date(0).toISOString(),
    pid: 1000 + i,
    uid: 1000,
    exe: "/usr/bin/curl",
    client: null,
    method: "GET",
    service: "api",
    keyring: null,
    decision: "forwarded",
    upstream_status: 200,
    latency_ms: 0.5,
  };
}

async function lines(path: string): Promise<AuditEntry[]> {
  const text = await Deno.readTextFile(path);
  return text === "" ? [] : text.trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("each audit line is on disk when write returns, in order, in a 0600 file; reopening appends", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "audit.jsonl");
  const log = await AuditLog.open(path);
  log.write(entry(0));
  assertEquals((await lines(path)).map((e) => e.pid), [1000]);
  log.write(entry(1));
  assertEquals((await lines(path)).map((e) => e.pid), [1000, 1001]);
  log.close();
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  const again = await AuditLog.open(path);
  again.write(entry(2));
  again.close();
  assertEquals((await lines(path)).map((e) => e.pid), [1000, 1001, 1002]);
});
