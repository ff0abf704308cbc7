/**
 * The child of `two_writers.test.ts`: opens the data directory the way the service and the
 * headless commands do and, in a few lanes, writes and deletes the same few keys as its twin
 * process, and appends audit entries of its own between them. Prints `done <appends>` at the end.
 *
 * @module
 */

import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { KvAuditLog } from "../../lib/state/mod.ts";

const LANES = 3;
const OPS = Number(Deno.args[0] ?? "60");
const KEYS = 4;
const core = await openDataDir(loadConfig(Deno.env.toObject()), { create: false });
const audit = new KvAuditLog(core.state.kv);
let appends = 0;

async function lane(i: number): Promise<void> {
  for (let n = 0; n < OPS; n++) {
    const key = `bots/${"ab".repeat(32)}/memory/race/k${Math.floor(Math.random() * KEYS)}.enc`;
    const roll = Math.random();
    if (roll < 0.15) await core.store.delete(key);
    else if (roll < 0.35) {
      await audit.append("contender_note", { lane: i, n });
      appends++;
    } else await core.store.put(key, crypto.getRandomValues(new Uint8Array(64 + n)));
  }
}

await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
await core.close();
console.log(`done ${appends}`);
