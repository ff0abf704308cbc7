/**
 * `migrate-legacy` on Ceph RGW (issue 13): in place on an S3 vault (the collision included), and
 * from another bucket (`--source-bucket`) into the vault; wrong signer key; deletion only after
 * verification; the collision case (census says legacy, the engine rewrites nothing). Ceph is
 * started by tests/support/ceph.ts (scripts/ceph/ensure.sh installs it).
 */

import { assert, assertEquals } from "../support/assert.ts";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { S3BlobStore } from "../../lib/store/mod.ts";
import { BACKUP_PREFIX } from "../../lib/migrate/_engine.ts";
import { startCeph } from "../support/ceph.ts";
import { type LegacyEnv, legacyEnv } from "./fixture.ts";
import { collisionCase } from "./_collision.ts";

function wanted(env: LegacyEnv): Map<string, string> {
  return new Map([...env.credentials()].map(([id, e]) => [id, e.plaintext]));
}

async function legacyLeft(env: LegacyEnv): Promise<number> {
  let n = 0;
  for (const e of env.expected) if (await env.raw.head(e.key) !== null) n++;
  return n;
}

Deno.test("migrate-legacy on Ceph RGW: in place and from another bucket", async (t) => {
  const ceph = await startCeph();
  try {
    const s3 = (bucket: string) =>
      new S3BlobStore({
        endpoint: ceph.endpoint,
        region: ceph.region,
        bucket,
        forcePathStyle: true,
        credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
      });
    const creds = {
      AWS_ACCESS_KEY_ID: ceph.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey,
    };

    // A vault on a bucket of its own (the service's store is RGW), the legacy blobs in it.
    const s3Vault = (bucket: string) =>
      legacyEnv({
        env: {
          AGENTKEYS_S3_ENDPOINT: ceph.endpoint,
          AGENTKEYS_S3_BUCKET: bucket,
          AGENTKEYS_S3_REGION: ceph.region,
          ...creds,
        },
        rawStore: () => s3(bucket),
      });

    await t.step(
      "in place on an S3 vault: wrong key changes nothing; then all move; then --delete-legacy",
      async () => {
        const bucket = `vault-${crypto.randomUUID().slice(0, 8)}`;
        await using env = await s3Vault(bucket);
        const wrong = join(env.dir, "wrong.key");
        await Deno.writeTextFile(wrong, generatePrivateKey(), { mode: 0o600 });
        const args = env.baseArgs();
        const bad = await env.run([
          ...args.map((a) => a === env.signerKeyFile ? wrong : a),
          "--delete-legacy",
        ]);
        assertEquals(bad.code, 1);
        assertEquals(bad.out.filter((l) => l.startsWith("failed ")).length, 6);
        assertEquals(await legacyLeft(env), 6);
        assertEquals((await env.readAll()).size, 0);

        const r = await env.run(args);
        assertEquals(r.code, 0, r.out.join("\n") + r.err.join("\n"));
        assertEquals(r.out.filter((l) => l.startsWith("migrated ")).length, 6);
        assertEquals(await env.readAll(), wanted(env));
        assertEquals(await legacyLeft(env), 6, "legacy kept without --delete-legacy");

        const d = await env.run([...args, "--delete-legacy"]);
        assertEquals(d.code, 0, d.out.join("\n"));
        assert(d.out.at(-1)!.includes("6 legacy deleted"), d.out.at(-1));
        assertEquals(await legacyLeft(env), 1, "only the collision key, now the new credential");
        assertEquals(await Array.fromAsync(env.raw.list(BACKUP_PREFIX)), []);
        assertEquals(await env.readAll(), wanted(env));
      },
    );

    await t.step(
      "the collision on an S3 vault: census says legacy, the engine rewrites nothing, moved in place",
      async () => {
        const bucket = `collide-${crypto.randomUUID().slice(0, 8)}`;
        await using env = await s3Vault(bucket);
        await collisionCase(env);
      },
    );

    await t.step("from another bucket (--source-bucket) into an fs vault", async () => {
      const source = `legacy-${crypto.randomUUID().slice(0, 8)}`;
      const store = s3(source);
      await store.ensureBucket();
      await using env = await legacyEnv({
        env: {
          AGENTKEYS_LEGACY_S3_ENDPOINT: ceph.endpoint,
          AGENTKEYS_LEGACY_S3_REGION: ceph.region,
          AGENTKEYS_LEGACY_S3_ACCESS_KEY_ID: ceph.accessKeyId,
          AGENTKEYS_LEGACY_S3_SECRET_ACCESS_KEY: ceph.secretAccessKey,
        },
        rawStore: () => store,
      });
      const r = await env.run([...env.baseArgs(), "--source-bucket", source, "--delete-legacy"]);
      assertEquals(r.code, 0, r.out.join("\n") + r.err.join("\n"));
      assertEquals(r.out.filter((l) => l.startsWith("migrated ")).length, 6);
      assertEquals(await env.readAll(), wanted(env));
      assertEquals(await legacyLeft(env), 0, "every legacy object deleted after verification");
      const again = await env.run([...env.baseArgs(), "--source-bucket", source]);
      assertEquals(again.code, 0);
      assert(again.out.at(-1)!.startsWith("summary: 0 migrated"), again.out.at(-1));
    });
  } finally {
    await ceph.stop();
  }
});
