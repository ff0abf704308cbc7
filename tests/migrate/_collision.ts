/**
 * The collision case (issue 13), run on the fs store (collision.test.ts) and on Ceph RGW
 * (ceph.test.ts): a legacy v2 blob of the operator's wallet lives at the operator's own
 * credential key and starts with 0x02, like an epoch-2 envelope. Before migration the census
 * counts every legacy blob as `legacy` (never under epoch 1 or 2) and the re-encryption engine
 * rewrites none of them; the migration then moves it in place.
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type BlobEvent, runReencrypt } from "../../lib/reencrypt/mod.ts";
import { takeCensus } from "../../lib/epochs/_census.ts";
import { BACKUP_PREFIX } from "../../lib/migrate/_engine.ts";
import type { LegacyEnv } from "./fixture.ts";

/** Runs the collision case on `env` (fresh, as `legacyEnv()` made it). */
export async function collisionCase(env: LegacyEnv): Promise<void> {
  const collision = env.expected.find((e) => e.service === "stripe")!;
  assertEquals(collision.key, `bots/${env.operatorOmni.slice(2)}/credentials/stripe.enc`);
  const h = await env.open();
  let before: Map<string, Uint8Array>;
  try {
    await h.keystore.rotate(); // epochs 1 (retiring) and 2 (active): both legacy bytes are live tags
    // An ordinary epoch-2 credential of the operator, to show it still counts under 2.
    const { migrationWorker } = await import("../../lib/migrate/_open.ts");
    const { credentialLocation } = await import("../../lib/worker/mod.ts");
    await migrationWorker(h).writeAsService(
      credentialLocation(env.operatorOmni.slice(2), "own"),
      new TextEncoder().encode("an AgentKeys credential"),
      { actorOmni: env.operatorOmni },
    );
    const census = await takeCensus({ store: h.store, keys: h.keystore });
    assertEquals(census.global, { "2": 1, legacy: 6 });

    before = new Map();
    for (const e of env.expected) before.set(e.key, (await env.raw.get(e.key))!.body);
    const events: BlobEvent[] = [];
    const result = await runReencrypt(
      { operatorOmni: "all", oldEpoch: 1, newEpoch: 2 },
      { store: h.store, keys: h.keystore, actors: h.actors, warn: () => {} },
      (e) => {
        if (e.event === "blob") events.push(e.data);
      },
    );
    assertEquals(result.reencrypted, 0);
    for (const e of env.expected) {
      const ev = events.find((x) => x.key === e.key)!;
      assert(ev !== undefined, e.key);
      assertEquals(ev.from_epoch, null, e.key);
      assertMatch(ev.reason!, /^legacy/, e.key);
      assertEquals((await env.raw.get(e.key))!.body, before.get(e.key), "never rewritten");
    }
    const own = events.find((x) => x.key.endsWith("/own.enc"))!;
    assertEquals([own.outcome, own.from_epoch], ["skipped", 2]);
  } finally {
    await h.close();
  }

  const r = await env.run(env.baseArgs());
  assertEquals(r.code, 0, r.out.join("\n"));
  const line = r.out.find((l) => l.includes(collision.key))!;
  assertMatch(line, /^migrated .*\[in place\]/);
  const backup = await env.raw.get(BACKUP_PREFIX + collision.key);
  assertEquals(backup!.body, before.get(collision.key), "the legacy bytes are kept as a backup");
  const got = await env.readAll();
  assertEquals(got.get(`${env.operatorOmni}/stripe`), collision.plaintext);
  assertEquals(got.size, 6);

  const after = await env.open();
  try {
    const census = await takeCensus({ store: after.store, keys: after.keystore });
    // The migrated copies are epoch-2 envelopes; the legacy v1 and agent-wallet v2 blobs stay
    // legacy until --delete-legacy; the backup is outside bots/ and not counted.
    assertEquals(census.global, { "2": 7, legacy: 5 });
  } finally {
    await after.close();
  }
}
