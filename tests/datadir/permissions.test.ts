// The data directory is the operator's alone: 0700 even when it existed with a wider mode, and
// the state file (every tenant's object keys, the audit log) 0600, its SQLite side files too
// (review: state.kv and state.kv-wal were 0644 in a 0755 directory).
import { join } from "node:path";
import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { STATE_FILE } from "../../lib/datadir/_files.ts";
import { assertEquals } from "../support/assert.ts";

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("openDataDir: the directory is 0700 and state.kv (with its -wal) 0600", async () => {
  const parent = await Deno.makeTempDir({ prefix: "agentkeys-perm-" });
  try {
    const dataDir = join(parent, "data");
    await Deno.mkdir(dataDir, { mode: 0o755 });
    await Deno.chmod(dataDir, 0o755);
    const config = loadConfig({ AGENTKEYS_DATA_DIR: dataDir });
    const core = await openDataDir(config, { create: true });
    try {
      await core.state.kv.set(["probe"], 1);
      assertEquals((await mode(dataDir)).toString(8), "700");
      for (const name of [STATE_FILE, `${STATE_FILE}-wal`]) {
        assertEquals((await mode(join(dataDir, name))).toString(8), "600", name);
      }
    } finally {
      await core.close();
    }
    // A state file left 0644 by an older version is tightened at the next open.
    await Deno.chmod(join(dataDir, STATE_FILE), 0o644);
    const again = await openDataDir(config, { create: false });
    await again.close();
    assertEquals((await mode(join(dataDir, STATE_FILE))).toString(8), "600");
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
