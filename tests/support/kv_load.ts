/**
 * A service-like load on a data directory, run as its own process beside another one (the
 * headless re-encryption job) to make them contend for `state.kv`:
 * `deno run -A tests/support/kv_load.ts --keys <file of blob keys> [--clients N]`, with the data
 * directory's environment (`AGENTKEYS_DATA_DIR`, `AGENTKEYS_SEAL_KEY`).
 *
 * Each client loops: a cap id claimed (`claimOnce`, as every capped request does), a random blob
 * read through the integrity store (pointer check), and every fourth turn a new memory blob put
 * (pointer intent and commit). It prints `ready` once open and, after SIGTERM, one JSON line:
 * `{ ops, errors: { <kind>: n }, maxMs }` — kinds are SQLite's `database is locked`, an error's
 * `code` (`state_busy`) or its name.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadConfig } from "../../lib/config/mod.ts";
import { openHeadless } from "../../lib/epochs/mod.ts";
import { memoryLocation, sealBlob } from "../../lib/worker/mod.ts";

/** What the load printed when it stopped. */
export interface LoadSummary {
  ops: number;
  errors: Record<string, number>;
  maxMs: number;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { keys: { type: "string" }, clients: { type: "string", default: "4" } },
  });
  const keys: string[] = JSON.parse(await Deno.readTextFile(values.keys!));
  const h = await openHeadless(loadConfig(Deno.env.toObject()));
  let stop = false;
  Deno.addSignalListener("SIGTERM", () => (stop = true));
  const summary: LoadSummary = { ops: 0, errors: {}, maxMs: 0 };
  const timed = async (op: () => Promise<unknown>) => {
    const t0 = performance.now();
    try {
      await op();
      summary.ops++;
    } catch (err) {
      const kind = err instanceof TypeError && err.message === "database is locked"
        ? "database is locked"
        : (err as { code?: string }).code ?? (err as Error).name;
      summary.errors[kind] = (summary.errors[kind] ?? 0) + 1;
    }
    summary.maxMs = Math.max(summary.maxMs, Math.round(performance.now() - t0));
  };
  const actor = "b2".repeat(32);
  console.log("ready");
  await Promise.all(Array.from({ length: Number(values.clients) }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      await timed(() => h.state.claimOnce("cap", crypto.randomUUID(), Date.now() + 60_000));
      await timed(() => h.store.get(keys[Math.floor(Math.random() * keys.length)]));
      if (i % 4 === 0) {
        const loc = memoryLocation(actor, "load", `c${c}-${i}`);
        const plaintext = new TextEncoder().encode(`load ${c} ${i}`);
        await timed(() => h.store.put(loc.key, sealBlob(h.keystore, loc, plaintext).blob));
      }
    }
  }));
  console.log(JSON.stringify(summary));
  await h.close();
}
