/**
 * Two processes on one data directory write, delete and audit the same keys at once (the
 * service beside a headless command): afterwards every key reads without a false alarm and its
 * pointer names the stored bytes; the audit chain verifies, with exactly one
 * `blob_written`/`blob_deleted` entry per pointer commit (seq 1..n, each once), versions growing
 * per key, and every entry either process appended on its own.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "../support/assert.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { openDataDir } from "../../lib/datadir/mod.ts";
import { sha256Hex } from "../../lib/integrity/_store.ts";
import { KvAuditLog } from "../../lib/state/mod.ts";
import { tempDir } from "../support/tmp.ts";

const CHILD = fileURLToPath(new URL("./_contender.ts", import.meta.url));

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("AGENTKEYS_") && !k.startsWith("AWS_")) env[k] = v;
  }
  return { ...env, ...extra, NO_COLOR: "1" };
}

async function contender(env: Record<string, string>): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, "60"],
    env: childEnv(env),
    clearEnv: true,
    stdin: "null",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert(out.success, `contender failed: ${new TextDecoder().decode(out.stderr)}`);
  return Number(/done (\d+)/.exec(stdout)![1]);
}

Deno.test("two processes writing the same keys: no false alarm, pointers name the stored bytes, one audit entry per commit, no fork", async () => {
  await using tmp = await tempDir("agentkeys-two-writers-");
  const env = {
    AGENTKEYS_DATA_DIR: tmp.path,
    AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
    AGENTKEYS_INTEGRITY: "strict",
  };
  await (await openDataDir(loadConfig(env), { create: true })).close();
  const appended = await Promise.all([contender(env), contender(env)]);

  const core = await openDataDir(loadConfig(env), { create: false });
  try {
    const audit = new KvAuditLog(core.state.kv);
    const verified = await audit.verify();
    assert(verified.ok, JSON.stringify(verified.brokenAt));
    const entries = await Array.fromAsync(audit.entries());
    assertEquals(entries.map((e) => e.seq), entries.map((_, i) => i + 1));
    assertEquals(entries.filter((e) => e.kind === "integrity_mismatch"), []);
    assertEquals(
      entries.filter((e) => e.kind === "contender_note").length,
      appended[0] + appended[1],
    );
    const commits = entries.filter((e) => e.kind === "blob_written" || e.kind === "blob_deleted");
    const { seq } = await core.pointers.seq();
    assertEquals(
      commits.map((e) => e.data.seq).sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: seq }, (_, i) => i + 1),
    );
    const last = new Map<string, { version: number; sha256: string | null }>();
    for (const e of commits) {
      const key = e.data.key as string;
      const version = e.data.version as number;
      assert(version > (last.get(key)?.version ?? 0), `${key}: version ${version} does not grow`);
      last.set(key, { version, sha256: (e.data.sha256 as string | undefined) ?? null });
    }
    assert(last.size > 0, "nothing was written");
    for (const [key, want] of last) {
      const stored = await core.store.get(key); // throws IntegrityMismatch on a false alarm
      const found = stored === null ? null : sha256Hex(stored.body);
      const ptr = (await core.pointers.get(key))!;
      assertEquals([ptr.version, ptr.sha256], [want.version, want.sha256], key);
      assertEquals(ptr.sha256, found, `${key}: pointer and store disagree`);
    }
  } finally {
    await core.close();
  }
});
