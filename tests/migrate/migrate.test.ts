/**
 * `deno task migrate-legacy` on the fs store (issue 13): legacy blobs from an independent writer,
 * v1 and v2, three wallets; dry run; deletion only after verification; idempotent re-runs; a
 * wrong signer key; the collision case; usage errors.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { generatePrivateKey } from "viem/accounts";
import { join } from "node:path";
import { BACKUP_PREFIX } from "../../lib/migrate/_engine.ts";
import { type LegacyEnv, legacyEnv } from "./fixture.ts";
import { StoreCredentialsExpired } from "../../lib/store/mod.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { type KvAuditLog, StateBusy } from "../../lib/state/mod.ts";

async function legacyPresent(env: LegacyEnv): Promise<string[]> {
  const present: string[] = [];
  for (const e of env.expected) if (await env.raw.head(e.key) !== null) present.push(e.key);
  return present;
}

/** Each expected credential's plaintext: the v2 copy wins over a v1 copy of the same service. */
function wanted(env: LegacyEnv): Map<string, string> {
  return new Map([...env.credentials()].map(([id, e]) => [id, e.plaintext]));
}

Deno.test("migrate-legacy: every legacy blob (v1, v2, three wallets) moves; plaintexts equal; legacy kept without --delete-legacy", async () => {
  await using env = await legacyEnv();
  const r = await env.run(env.baseArgs());
  assertEquals(r.code, 0, r.err.join("\n"));
  const migrated = r.out.filter((l) => l.startsWith("migrated "));
  assertEquals(migrated.length, 6, r.out.join("\n"));
  assert(r.out.at(-1)!.startsWith("summary: 6 migrated"), r.out.at(-1));
  assertEquals(await env.readAll(), wanted(env));
  // v1 and v2 legacy objects are all still there (the collision's legacy bytes as its backup).
  const present = await legacyPresent(env);
  const collision = env.expected.find((e) => e.service === "stripe")!;
  assertEquals(present.length, 6);
  assert((await env.raw.head(BACKUP_PREFIX + collision.key)) !== null);

  // Idempotent: a re-run changes nothing and reports every blob as already there.
  const again = await env.run(env.baseArgs());
  assertEquals(again.code, 0, again.out.join("\n"));
  // 8: the six legacy keys, plus the two new credentials listed under the operator's v2 prefix.
  assert(
    again.out.at(-1)!.startsWith("summary: 0 migrated, 0 would migrate, 8 skipped, 0 conflict"),
    again.out.at(-1),
  );
  assertEquals(await env.readAll(), wanted(env));
});

Deno.test("migrate-legacy --dry-run: reports what would move, writes and deletes nothing", async () => {
  await using env = await legacyEnv();
  const before = await Array.fromAsync(env.raw.list("bots/"));
  const r = await env.run([...env.baseArgs(), "--dry-run", "--json"]);
  assertEquals(r.code, 0, r.err.join("\n"));
  const events = r.out.map((l) => JSON.parse(l));
  assertEquals(events.filter((e) => e.outcome === "would-migrate").length, 6);
  assertEquals(events.at(-1).summary.would_migrate, 6);
  const after = await Array.fromAsync(env.raw.list(""));
  assertEquals(after.map((i) => i.key).sort(), before.map((i) => i.key).sort());
  assertEquals((await env.readAll()).size, 0, "nothing readable: the collision key is legacy");
});

Deno.test("migrate-legacy --delete-legacy: legacy objects go only after the new copy was verified", async () => {
  await using env = await legacyEnv();
  const r = await env.run([...env.baseArgs(), "--delete-legacy"]);
  assertEquals(r.code, 0, r.out.join("\n") + r.err.join("\n"));
  assertEquals(await env.readAll(), wanted(env));
  assertEquals(await legacyPresent(env), [
    env.expected.find((e) => e.service === "stripe")!.key, // now the new credential itself
  ]);
  assertEquals(await Array.fromAsync(env.raw.list(BACKUP_PREFIX)), []);
  assert(r.out.at(-1)!.includes("6 legacy deleted"), r.out.at(-1));
  // Each move and each deletion is audited, naming keys and actors, never plaintext.
  const h0 = await env.open();
  try {
    const { entries } = await (h0.audit as KvAuditLog).page({ limit: 500 });
    const kinds = entries.map((e) => e.kind);
    assertEquals(kinds.filter((k) => k === "legacy_migrated").length, 6);
    assertEquals(kinds.filter((k) => k === "legacy_deleted").length, 6);
    const text = JSON.stringify(entries);
    for (const e of env.expected) assert(!text.includes(e.plaintext), "no plaintext in the audit");
  } finally {
    await h0.close();
  }

  // Legacy copies left by a run without --delete-legacy are removed by a later run with it,
  // once the copy is verified; a different current credential keeps its legacy copy.
  await using env2 = await legacyEnv();
  assertEquals((await env2.run(env2.baseArgs())).code, 0);
  const h = await env2.open();
  try {
    const { migrationWorker } = await import("../../lib/migrate/_open.ts");
    const { credentialLocation } = await import("../../lib/worker/mod.ts");
    const github = env2.expected.find((e) => e.service === "github")!;
    await migrationWorker(h).writeAsService(
      credentialLocation(github.actorOmni.slice(2), "github"),
      new TextEncoder().encode("rotated since"),
      { actorOmni: github.actorOmni },
    );
  } finally {
    await h.close();
  }
  const second = await env2.run([...env2.baseArgs(), "--delete-legacy"]);
  assertEquals(second.code, 1, "the changed credential is a conflict");
  const conflicts = second.out.filter((l) => l.startsWith("conflict "));
  assertEquals(conflicts.length, 1, second.out.join("\n"));
  assert(conflicts[0].includes("github"));
  const left = await legacyPresent(env2);
  assert(left.includes(env2.expected.find((e) => e.service === "github")!.key));
  assertEquals(left.length, 2, "github's legacy copy and the collision key");
});

Deno.test("migrate-legacy --delete-legacy: a copy that reads back different is failed and its legacy object stays", async () => {
  await using env = await legacyEnv();
  // The worker's read-back returns other bytes (a store answering with the wrong object, say).
  const r = await env.run([...env.baseArgs(), "--delete-legacy"], (deps) => ({
    ...deps,
    worker: {
      writeAsService: deps.worker.writeAsService.bind(deps.worker),
      openAsService: deps.worker.openAsService.bind(deps.worker),
      readAsService: async (loc) => {
        const got = await deps.worker.readAsService(loc);
        return { ...got, plaintext: new TextEncoder().encode("not what was written") };
      },
    },
  }));
  assertEquals(r.code, 1, r.out.join("\n"));
  const failed = r.out.filter((l) => l.startsWith("failed "));
  assertEquals(failed.length, 6, r.out.join("\n"));
  assert(!r.out.some((l) => l.includes("legacy deleted)")), r.out.join("\n"));
  assert(r.out.at(-1)!.includes("0 legacy deleted"), r.out.at(-1));
  // Every legacy object is still there (the collision's legacy bytes in its backup).
  const collision = env.expected.find((e) => e.service === "stripe")!.key;
  for (const e of env.expected) {
    if (e.key === collision) continue;
    assert(await env.raw.head(e.key) !== null, `${e.key} deleted without a verified copy`);
  }
  assert(await env.raw.head(BACKUP_PREFIX + collision) !== null, "the collision's backup kept");
});

Deno.test("migrate-legacy with a wrong signer key: every blob failed, nothing written or deleted", async () => {
  await using env = await legacyEnv();
  const wrong = join(env.dir, "wrong.key");
  await Deno.writeTextFile(wrong, generatePrivateKey(), { mode: 0o600 });
  const args = env.baseArgs();
  args[args.indexOf(env.signerKeyFile)] = wrong;
  const before = (await Array.fromAsync(env.raw.list(""))).map((i) => i.key).sort();
  const r = await env.run([...args, "--delete-legacy"]);
  assertEquals(r.code, 1);
  const failed = r.out.filter((l) => l.startsWith("failed "));
  assertEquals(failed.length, 6, r.out.join("\n"));
  for (const line of failed) assert(line.includes("legacy_auth_failed"), line);
  const after = (await Array.fromAsync(env.raw.list(""))).map((i) => i.key).sort();
  assertEquals(after, before);
  assertEquals((await env.readAll()).size, 0, "the collision key still holds only legacy bytes");
});

Deno.test("migrate-legacy usage errors exit 2: key file readable by others, unknown label, bad map, missing flags", async () => {
  await using env = await legacyEnv();
  await Deno.chmod(env.signerKeyFile, 0o644);
  const open = await env.run(env.baseArgs());
  assertEquals(open.code, 2);
  assert(open.err[0].includes("chmod 600"), open.err[0]);
  await Deno.chmod(env.signerKeyFile, 0o600);
  const unknown = await env.run([...env.baseArgs(), "--map", `${"0x" + "ab".repeat(20)}=nobody`]);
  assertEquals(unknown.code, 2);
  assert(unknown.err[0].includes("no live agent"), unknown.err[0]);
  assertEquals((await env.run([...env.baseArgs(), "--map", "0x12=x"])).code, 2);
  assertEquals((await env.run(["--operator", env.operator])).code, 2);
  assertEquals((await env.run([...env.baseArgs(), "--dry-run", "--delete-legacy"])).code, 2);
  // 64 hex that is no secp256k1 key: a usage error naming the file, never the key (it was exit 1
  // with viem's message, which prints the key as a number).
  const good = await Deno.readTextFile(env.signerKeyFile);
  await Deno.writeTextFile(env.signerKeyFile, `0x${"ff".repeat(32)}\n`);
  const invalid = await env.run(env.baseArgs());
  assertEquals(invalid.code, 2, invalid.err.join("\n"));
  assert(!invalid.err.join("\n").includes("115792089237316195"), invalid.err.join("\n"));
  await Deno.writeTextFile(env.signerKeyFile, good);
  // Nothing was written by any of them.
  assertEquals((await env.readAll()).size, 0);
});

Deno.test("migrate-legacy: a blob whose state store meets state_busy fails with a reason that says to re-run; a re-run moves it", async () => {
  await using env = await legacyEnv();
  const slack = env.expected.find((e) => e.service === "slack")!.key;
  const r = await env.run(env.baseArgs(), (deps) => {
    // One wrapper for both sides, as above (migration in place).
    const faulty = new FaultyStore(deps.source, {
      fail: (op, key) =>
        op === "get" && key.endsWith("/credentials/slack.enc") && key !== slack
          ? new StateBusy("the state store stayed busy with another process's writes (commit)")
          : undefined,
    });
    return { ...deps, source: faulty, target: faulty };
  });
  assertEquals(r.code, 1, r.out.join("\n") + r.err.join("\n"));
  const failed = r.out.filter((l) => l.startsWith("failed "));
  assertEquals(failed.length, 1, r.out.join("\n"));
  assertMatch(
    failed[0],
    /state_busy: another process kept the state store busy, re-run the migration/,
  );
  const again = await env.run(env.baseArgs());
  assertEquals(again.code, 0, again.out.join("\n"));
  assertEquals(await env.readAll(), wanted(env));
});

Deno.test("migrate-legacy stops at the first expired store credential (exit 75) and a re-run continues", async () => {
  await using env = await legacyEnv();
  const slack = env.expected.find((e) => e.service === "slack")!.key;
  const r = await env.run(env.baseArgs(), (deps) => {
    // One wrapper for both sides: the vault is still the source (migration in place).
    const faulty = new FaultyStore(deps.source, {
      fail: (op, key) =>
        op === "get" && key === slack ? new StoreCredentialsExpired("ExpiredToken") : undefined,
    });
    return { ...deps, source: faulty, target: faulty };
  });
  assertEquals(r.code, 75, r.out.join("\n") + r.err.join("\n"));
  assert(r.out.at(-1)!.endsWith("(aborted)"), r.out.at(-1));
  // v2 keys go first: the operator's (the collision) moved, then the run stopped at slack.
  assertEquals(r.out.filter((l) => l.startsWith("migrated ")).length, 1, r.out.join("\n"));
  const again = await env.run(env.baseArgs());
  assertEquals(again.code, 0);
  assertEquals(await env.readAll(), wanted(env));
});
