/**
 * Forward secrecy against copies of the keystore (review finding, issue 7): destroying an epoch
 * on the embedded seal key moves every sealed file to a fresh seal key, so a backup taken before
 * the destruction opens neither with the old key (scrubbed) nor with the new one. Also: the
 * crash-safety of that rotation, a second process picking the new key up, and the zeroing of a
 * destroyed epoch's key material in memory.
 */

import { assert, assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { join } from "node:path";
import { loadConfig } from "../../lib/config/mod.ts";
import { type DataDirCore, KEYRING_FILES, openDataDir } from "../../lib/datadir/mod.ts";
import { EpochKeystore, KEYSTORE_FILE, type RotationStep } from "../../lib/signer/mod.ts";
import { KeystoreUnsealFailed } from "../../lib/signer/_errors.ts";
import { SEAL_KEY_FILE, SEAL_KEY_NEXT_FILE } from "../../lib/signer/_seal_key.ts";
import { SigningKeyring } from "../../lib/broker/mod.ts";
import { KeyringUnreadable } from "../../lib/broker/_keyring.ts";
import { EnvelopeEpochDestroyed } from "../../lib/crypto/mod.ts";
import { kekKeyBytes } from "../../lib/crypto/_kek.ts";
import { tempDir } from "../support/tmp.ts";

const ACTOR = "cd".repeat(32);

async function openEmbedded(
  dir: string,
  crashAfter?: (step: RotationStep) => void,
): Promise<DataDirCore> {
  return await openDataDir(loadConfig({ AGENTKEYS_DATA_DIR: dir }), { create: true, crashAfter });
}

async function openRing(
  dir: string,
  sealKey: Uint8Array | DataDirCore["sealKey"],
  purpose: "k1" | "k2",
) {
  return await SigningKeyring.open({
    path: join(dir, KEYRING_FILES[purpose]),
    sealKey,
    purpose,
    retainSeconds: 60,
  });
}

async function readKey(dir: string): Promise<Uint8Array> {
  return Uint8Array.fromHex((await Deno.readTextFile(join(dir, SEAL_KEY_FILE))).trim());
}

/** A data dir with both keyrings and epoch 1 retiring (epoch 2 active). */
async function prepared(dir: string, crashAfter?: (step: RotationStep) => void) {
  const core = await openEmbedded(dir, crashAfter);
  const k1 = await openRing(dir, core.sealKey, "k1");
  const k2 = await openRing(dir, core.sealKey, "k2");
  const kids = { k1: k1.current.kid, k2: k2.current.kid };
  await core.keystore.rotate();
  return { core, kids };
}

Deno.test("destroy on the embedded seal key: a keystore copy from before opens with neither key", async () => {
  await using dir = await tempDir();
  const { core, kids } = await prepared(dir.path);
  const keystorePath = join(dir.path, KEYSTORE_FILE);
  const backup = await Deno.readFile(keystorePath);
  const oldKey = await readKey(dir.path);
  // The backup really holds epoch 1 under the old key (what an attacker with both would get).
  const backupPath = join(dir.path, "backup.json");
  await Deno.writeFile(backupPath, backup);
  const fromBackup = await EpochKeystore.open({ path: backupPath, sealKey: oldKey, create: false });
  assertEquals(fromBackup.stateOf(1), "retiring");

  await core.keystore.destroy(1);
  assert(core.keystore.sealKeyRotates);
  const newKey = await readKey(dir.path);
  assert(!newKey.every((b, i) => b === oldKey[i]), "seal.key must change");
  await assertRejects(() => Deno.stat(join(dir.path, SEAL_KEY_NEXT_FILE)), Deno.errors.NotFound);

  // The old seal key does not open the new keystore file.
  await assertRejects(
    () => EpochKeystore.open({ path: keystorePath, sealKey: oldKey, create: false }),
    KeystoreUnsealFailed,
  );
  // The new keystore has no key for epoch 1.
  const current = await EpochKeystore.open({ path: keystorePath, sealKey: newKey, create: false });
  assertEquals(current.stateOf(1), "destroyed");
  assertThrows(() => current.kek(1, "credentials", ACTOR), EnvelopeEpochDestroyed);
  // The old copy does not open under the new key either.
  await assertRejects(
    () => EpochKeystore.open({ path: backupPath, sealKey: newKey, create: false }),
    KeystoreUnsealFailed,
  );
  // The broker keyrings moved too: same keys under the new seal key, none under the old one.
  assertEquals((await openRing(dir.path, newKey, "k1")).current.kid, kids.k1);
  assertEquals((await openRing(dir.path, newKey, "k2")).current.kid, kids.k2);
  await assertRejects(() => openRing(dir.path, oldKey, "k1"), KeyringUnreadable);

  // The running process switched: its next keystore and keyring writes use the new key.
  await core.keystore.rotate();
  const ring = await openRing(dir.path, core.sealKey, "k1");
  await ring.rotate();
  assertEquals((await EpochKeystore.open({ path: keystorePath, sealKey: newKey })).activeEpoch, 3);
  await openRing(dir.path, newKey, "k1");
  await core.close();
  const again = await openEmbedded(dir.path);
  assertEquals(again.keystore.activeEpoch, 3);
  await again.close();
});

Deno.test("destroy zeroes the cached KEKs of the epoch, here and in a process that refreshes", async () => {
  await using dir = await tempDir();
  const { core } = await prepared(dir.path);
  const other = await openEmbedded(dir.path); // another process on the same data dir
  const mine = kekKeyBytes(core.keystore.kek(1, "credentials", ACTOR));
  const theirs = kekKeyBytes(other.keystore.kek(1, "memory", ACTOR));
  const live = kekKeyBytes(core.keystore.kek(2, "credentials", ACTOR));
  assert(mine.some((b) => b !== 0) && theirs.some((b) => b !== 0));

  await core.keystore.destroy(1);
  assert(mine.every((b) => b === 0), "this process's cached KEK must be zeroed");
  assert(live.some((b) => b !== 0), "a live epoch's KEK is left alone");
  const stale = other.keystore.kek(1, "memory", ACTOR); // still cached there until it refreshes
  await other.keystore.refresh(0);
  assert(theirs.every((b) => b === 0), "the refreshing process's cached KEK must be zeroed");
  assertThrows(() => kekKeyBytes(stale), EnvelopeEpochDestroyed);
  assertThrows(() => other.keystore.kek(1, "memory", ACTOR), EnvelopeEpochDestroyed);
  // The other process switched to the new seal key by itself.
  await other.keystore.rotate();
  await core.keystore.reload();
  assertEquals(core.keystore.activeEpoch, 3);
  await other.close();
  await core.close();
});

for (
  const step of ["next_written", "others_resealed", "self_resealed", "old_scrubbed"] as const
) {
  Deno.test(`a crash after "${step}" of a seal key rotation is finished at the next open`, async () => {
    await using dir = await tempDir();
    let crash = false;
    const { core, kids } = await prepared(dir.path, (s) => {
      if (crash && s === step) throw new Error(`simulated crash after ${s}`);
    });
    const oldKey = await readKey(dir.path);
    crash = true;
    await assertRejects(() => core.keystore.destroy(1), Error, "simulated crash");
    await core.close();
    assert(await Deno.stat(join(dir.path, SEAL_KEY_NEXT_FILE)), "the pending key is on disk");

    const reopened = await openEmbedded(dir.path);
    await assertRejects(() => Deno.stat(join(dir.path, SEAL_KEY_NEXT_FILE)), Deno.errors.NotFound);
    const newKey = await readKey(dir.path);
    // The keystore was written under the new key only from "self_resealed" on.
    const destroyed = step === "self_resealed" || step === "old_scrubbed";
    assertEquals(reopened.keystore.stateOf(1), destroyed ? "destroyed" : "retiring");
    assertEquals((await openRing(dir.path, newKey, "k1")).current.kid, kids.k1);
    assertEquals((await openRing(dir.path, newKey, "k2")).current.kid, kids.k2);
    // Nothing is left under the old key.
    await assertRejects(
      () =>
        EpochKeystore.open({
          path: join(dir.path, KEYSTORE_FILE),
          sealKey: oldKey,
          create: false,
        }),
      KeystoreUnsealFailed,
    );
    await assertRejects(() => openRing(dir.path, oldKey, "k2"), KeyringUnreadable);
    if (!destroyed) {
      await reopened.keystore.destroy(1);
      assertEquals(reopened.keystore.stateOf(1), "destroyed");
    }
    await reopened.close();
  });
}
