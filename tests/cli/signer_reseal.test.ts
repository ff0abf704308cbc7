/**
 * `deno task signer reseal` (review finding, issue 7): with AGENTKEYS_SEAL_KEY the operator moves
 * the keystore and the broker keyrings to a new seal key given in a 0600 file; a wrong old key
 * rewrites nothing. `drop-old-k3` under a supplied key warns that the old key must be retired.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { join } from "node:path";
import { signerMain } from "../../lib/cli/mod.ts";
import { loadConfig } from "../../lib/config/mod.ts";
import { KEYRING_FILES, openDataDir } from "../../lib/datadir/mod.ts";
import { KEYSTORE_FILE } from "../../lib/signer/mod.ts";
import { KeystoreUnsealFailed } from "../../lib/signer/_errors.ts";
import { SEAL_KEY_FILE } from "../../lib/signer/_seal_key.ts";
import { SigningKeyring } from "../../lib/broker/mod.ts";
import { capture, type DataDir, makeDataDir } from "../reencrypt/datadir.ts";
import { openBlob, parseBlobKey } from "../../lib/worker/mod.ts";
import { tempDir } from "../support/tmp.ts";

async function signer(env: Record<string, string>, args: string[]) {
  const io = capture();
  const code = await signerMain(args, { env, ...io });
  return { code, out: io.out, err: io.err };
}

/** Adds a K1 keyring sealed under the data dir's key, as the service would. */
async function addKeyring(data: DataDir): Promise<string> {
  const ring = await SigningKeyring.open({
    path: join(data.dir, KEYRING_FILES.k1),
    sealKey: Uint8Array.fromHex(data.env.AGENTKEYS_SEAL_KEY),
    purpose: "k1",
    retainSeconds: 60,
  });
  return ring.current.kid;
}

Deno.test("reseal: usage errors exit 2 and touch nothing", async () => {
  await using data = await makeDataDir(1);
  const before = await Deno.readFile(join(data.dir, KEYSTORE_FILE));
  const missing = await signer(data.env, ["reseal"]);
  assertEquals(missing.code, 2);
  assertMatch(missing.err, /--new-seal-key-file/);
  const open = join(data.dir, "new.key");
  await Deno.writeTextFile(open, "11".repeat(32) + "\n", { mode: 0o644 });
  await Deno.chmod(open, 0o644);
  const loose = await signer(data.env, ["reseal", "--new-seal-key-file", open]);
  assertEquals(loose.code, 2);
  assertMatch(loose.err, /readable by others/);
  const bad = join(data.dir, "bad.key");
  await Deno.writeTextFile(bad, "not hex\n", { mode: 0o600 });
  assertEquals((await signer(data.env, ["reseal", "--new-seal-key-file", bad])).code, 2);
  assertEquals((await signer(data.env, ["rotate", "--new-seal-key-file", bad])).code, 2);
  assertEquals(await Deno.readFile(join(data.dir, KEYSTORE_FILE)), before);
});

Deno.test("reseal: a wrong old key is refused (exit 1) and nothing is rewritten", async () => {
  await using data = await makeDataDir(1);
  await addKeyring(data);
  const files = [KEYSTORE_FILE, KEYRING_FILES.k1].map((f) => join(data.dir, f));
  const before = await Promise.all(files.map((f) => Deno.readFile(f)));
  const wrong = { ...data.env, AGENTKEYS_SEAL_KEY: "22".repeat(32) };
  const r = await signer(wrong, ["reseal", "--new-seal-key-file", join(data.dir, "new.key")]);
  assertEquals(r.code, 1, r.err);
  assertMatch(r.err, /cannot unseal/);
  assertEquals(await Promise.all(files.map((f) => Deno.readFile(f))), before);
});

Deno.test("reseal: moves the keystore and keyrings to the new key; the service opens with it", async () => {
  await using data = await makeDataDir(3);
  const kid = await addKeyring(data);
  const keyFile = join(data.dir, "new.key");
  const r = await signer(data.env, ["reseal", "--new-seal-key-file", keyFile]);
  assertEquals(r.code, 0, r.err);
  const newHex = (await Deno.readTextFile(keyFile)).trim();
  assertEquals((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
  assertMatch(r.out, /generated a new seal key/);
  assertMatch(r.out, /set AGENTKEYS_SEAL_KEY/);
  assertMatch(r.out, /retire the old key/);
  assert(!r.out.includes(newHex) && !r.err.includes(newHex), "the key is never printed");

  // The old key opens nothing any more; the new one opens everything, as the service would.
  await assertRejects(
    () => openDataDir(loadConfig(data.env), { create: false }),
    KeystoreUnsealFailed,
  );
  const newEnv = { ...data.env, AGENTKEYS_SEAL_KEY: newHex };
  const core = await openDataDir(loadConfig(newEnv), { create: false });
  const ring = await SigningKeyring.open({
    path: join(data.dir, KEYRING_FILES.k1),
    sealKey: core.sealKey,
    purpose: "k1",
    retainSeconds: 60,
  });
  assertEquals(ring.current.kid, kid);
  for (const key of data.keys) {
    const stored = await core.store.get(key);
    const plain = openBlob(core.keystore, parseBlobKey(key)!, stored!.body).plaintext;
    assertEquals(new TextDecoder().decode(plain), data.plaintexts.get(key));
  }
  await core.close();
});

Deno.test("reseal on the embedded seal key replaces seal.key", async () => {
  await using dir = await tempDir();
  const env = { AGENTKEYS_DATA_DIR: dir.path };
  await (await openDataDir(loadConfig(env), { create: true })).close();
  const before = await Deno.readTextFile(join(dir.path, SEAL_KEY_FILE));
  assertEquals(
    (await signer(env, ["reseal", "--new-seal-key-file", join(dir.path, "x.key")])).code,
    2,
  );
  const r = await signer(env, ["reseal"]);
  assertEquals(r.code, 0, r.err);
  assert((await Deno.readTextFile(join(dir.path, SEAL_KEY_FILE))) !== before);
  const core = await openDataDir(loadConfig(env), { create: false });
  assertEquals(core.keystore.activeEpoch, 1);
  await core.close();
});

Deno.test("drop-old-k3 under AGENTKEYS_SEAL_KEY warns that the old seal key must be retired", async () => {
  await using data = await makeDataDir(0);
  const r = await signer(data.env, ["drop-old-k3", "--epoch", "1"]);
  assertEquals(r.code, 0, r.err);
  assertMatch(r.err, /WARNING: the seal key comes from AGENTKEYS_SEAL_KEY/);
  assertMatch(r.err, /signer reseal/);
});
