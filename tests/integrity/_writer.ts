/**
 * The child of `kill.test.ts`: opens the data directory the way the service does (its store is
 * the IntegrityStore) and writes and deletes blobs until it is killed, printing a line before
 * (`start`) and after (`done`) each operation. Lane `i` owns keys `k<i>-*`, so operations on
 * one key never overlap. `AGENTKEYS_*` settings come from the environment.
 *
 * @module
 */

import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";

const LANES = 4;
const KEYS_PER_LANE = 6;
const core = await openDataDir(loadConfig(Deno.env.toObject()), { create: true });
const encoder = new TextEncoder();
const out = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
out("ready");

async function lane(i: number): Promise<void> {
  for (let n = 0;; n++) {
    const key = `bots/${"ab".repeat(32)}/memory/kill/k${i}-${n % KEYS_PER_LANE}.enc`;
    if (n % 7 === 6) {
      out(`start del ${key} -`);
      await core.store.delete(key);
      out(`done del ${key} -`);
    } else {
      const body = crypto.getRandomValues(new Uint8Array(64 + (n % 5) * 100));
      const sha = sha256Hex(body);
      out(`start put ${key} ${sha}`);
      await core.store.put(key, body);
      out(`done put ${key} ${sha}`);
    }
  }
}

await Promise.all(Array.from({ length: LANES }, (_, i) => lane(i)));
