import { assert, assertEquals, assertRejects, assertThrows } from "../support/assert.ts";
import { join } from "node:path";
import { EpochKeystore, EpochStateError } from "../../lib/signer/mod.ts";
import {
  EpochTagCollision,
  KeystoreCorrupt,
  KeystoreUnsealFailed,
} from "../../lib/signer/_errors.ts";
import { loadSealKey } from "../../lib/signer/_seal_key.ts";
import {
  EnvelopeAuthFailed,
  EnvelopeEpochDestroyed,
  EnvelopeUnknownEpoch,
  openEnvelope,
  sealEnvelope,
} from "../../lib/crypto/mod.ts";
import { tempDir } from "../support/tmp.ts";

const ACTOR = "ab".repeat(32);
const CTX = { dataClass: "credentials", actorHex: ACTOR, objectName: "openai" } as const;
const seal = () => crypto.getRandomValues(new Uint8Array(32));

Deno.test("a new keystore starts at epoch 1 and survives a reopen", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "signer/keystore.json");
  const sealKey = seal();
  const ks = await EpochKeystore.open({ path, sealKey });
  assertEquals(ks.activeEpoch, 1);
  assertEquals(ks.list().map((e) => [e.epoch, e.state]), [[1, "active"]]);
  const blob = sealEnvelope(ks.kek(1, "credentials", ACTOR), 1, CTX, new TextEncoder().encode("x"));
  const again = await EpochKeystore.open({ path, sealKey });
  assertEquals(
    new TextDecoder().decode(openEnvelope(again.kek(1, "credentials", ACTOR), 1, CTX, blob)),
    "x",
  );
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
});

Deno.test("the file holds no key material in the clear", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  await EpochKeystore.open({ path, sealKey: seal() });
  const text = await Deno.readTextFile(path);
  const outer = JSON.parse(text);
  assertEquals(Object.keys(outer).sort(), ["format", "sealed", "version"]);
  assert(!text.includes("active"), "epoch states are sealed too");
});

Deno.test("rotate activates N+1, retires N, and both still decrypt", async () => {
  await using dir = await tempDir();
  const ks = await EpochKeystore.open({ path: join(dir.path, "ks.json"), sealKey: seal() });
  const old = sealEnvelope(ks.kek(1, "credentials", ACTOR), 1, CTX, new Uint8Array([7]));
  assertEquals(await ks.rotate(), { active: 2, previous: 1 });
  assertEquals(ks.activeEpoch, 2);
  assertEquals(ks.list().map((e) => e.state), ["retiring", "active"]);
  assertEquals(ks.epochForTag(1), 1);
  assertEquals(openEnvelope(ks.kek(1, "credentials", ACTOR), 1, CTX, old), new Uint8Array([7]));
  const underTwo = sealEnvelope(ks.kek(2, "credentials", ACTOR), 1, CTX, new Uint8Array([7]));
  assertThrows(
    () => openEnvelope(ks.kek(1, "credentials", ACTOR), 1, CTX, underTwo),
    EnvelopeAuthFailed,
  );
});

Deno.test("destroy erases the key, keeps a tombstone, and reads become epoch_destroyed", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  const sealKey = seal();
  const ks = await EpochKeystore.open({ path, sealKey });
  const old = sealEnvelope(ks.kek(1, "credentials", ACTOR), 1, CTX, new Uint8Array([1]));
  await ks.rotate();
  const info = await ks.destroy(1);
  assertEquals(info.state, "destroyed");
  assert(info.destroyedAt);
  assertThrows(() => ks.epochForTag(old[0]), EnvelopeEpochDestroyed);
  assertThrows(() => ks.kek(1, "credentials", ACTOR), EnvelopeEpochDestroyed);
  const reopened = await EpochKeystore.open({ path, sealKey });
  assertEquals(reopened.list().map((e) => e.state), ["destroyed", "active"]);
  assertThrows(() => reopened.kek(1, "credentials", ACTOR), EnvelopeEpochDestroyed);
  assertThrows(() => reopened.epochForTag(77), EnvelopeUnknownEpoch);
});

Deno.test("destroy refuses the active epoch, unknown and already destroyed epochs", async () => {
  await using dir = await tempDir();
  const ks = await EpochKeystore.open({ path: join(dir.path, "ks.json"), sealKey: seal() });
  await assertRejects(() => ks.destroy(1), EpochStateError, "active");
  await assertRejects(() => ks.destroy(9), EpochStateError, "does not exist");
  await ks.rotate();
  await ks.destroy(1);
  await assertRejects(() => ks.destroy(1), EpochStateError, "already destroyed");
});

Deno.test("the destroy guard runs first and its refusal changes nothing", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  const ks = await EpochKeystore.open({ path, sealKey: seal() });
  await ks.rotate();
  const before = await Deno.readFile(path);
  class InUse extends Error {}
  await assertRejects(
    () => ks.destroy(1, { guard: () => Promise.reject(new InUse("3 blobs")) }),
    InUse,
  );
  assertEquals(await Deno.readFile(path), before);
  assertEquals(ks.stateOf(1), "retiring");
  ks.kek(1, "memory", ACTOR); // still usable
});

Deno.test("rotation refuses an epoch whose tag collides with a live epoch", async () => {
  await using dir = await tempDir();
  const ks = await EpochKeystore.open({ path: join(dir.path, "ks.json"), sealKey: seal() });
  for (let i = 0; i < 255; i++) await ks.rotate(); // epochs 1..256 alive, 256 active (tag 0)
  assertEquals(ks.activeEpoch, 256);
  await assertRejects(() => ks.rotate(), EpochTagCollision, "epoch 1");
  await ks.destroy(1);
  assertEquals((await ks.rotate()).active, 257);
  assertEquals(ks.epochForTag(1), 257); // the tag now means the live epoch
});

Deno.test("a wrong seal key is a clear error and the file is untouched", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  await EpochKeystore.open({ path, sealKey: seal() });
  const before = await Deno.readFile(path);
  await assertRejects(
    () => EpochKeystore.open({ path, sealKey: seal() }),
    KeystoreUnsealFailed,
    "wrong seal key",
  );
  assertEquals(await Deno.readFile(path), before);
});

Deno.test("a corrupted or tampered file is a clear error and is never overwritten", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  const sealKey = seal();
  await EpochKeystore.open({ path, sealKey });
  const good = JSON.parse(await Deno.readTextFile(path));
  const cases: [string, string, new (...a: never[]) => Error][] = [
    ["truncated", JSON.stringify(good).slice(0, 30), KeystoreCorrupt],
    ["other version", JSON.stringify({ ...good, version: 99 }), KeystoreCorrupt],
    [
      "flipped sealed byte",
      JSON.stringify({ ...good, sealed: flip(good.sealed) }),
      KeystoreUnsealFailed,
    ],
  ];
  for (const [, text, type] of cases) {
    await Deno.writeTextFile(path, text);
    await assertRejects(() => EpochKeystore.open({ path, sealKey }), type);
    assertEquals(await Deno.readTextFile(path), text);
  }
});

Deno.test("no temp files are left next to the keystore", async () => {
  await using dir = await tempDir();
  const ks = await EpochKeystore.open({ path: join(dir.path, "ks.json"), sealKey: seal() });
  await ks.rotate();
  await ks.rotate();
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
  assertEquals(names, ["ks.json", "ks.json.lock"]);
});

Deno.test("two keystores on one file serialize rotations (none is lost)", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  const sealKey = seal();
  const a = await EpochKeystore.open({ path, sealKey });
  const b = await EpochKeystore.open({ path, sealKey });
  const results = await Promise.all([a.rotate(), b.rotate(), a.rotate(), b.rotate()]);
  assertEquals(results.map((r) => r.active).sort(), [2, 3, 4, 5]);
  await a.reload();
  assertEquals(a.activeEpoch, 5);
  assertEquals(a.list().filter((e) => e.state === "retiring").length, 4);
});

Deno.test("a retired KEK cannot open another epoch's blob", async () => {
  await using dir = await tempDir();
  const ks = await EpochKeystore.open({ path: join(dir.path, "ks.json"), sealKey: seal() });
  await ks.rotate();
  const blob = sealEnvelope(ks.kek(2, "credentials", ACTOR), 2, CTX, new Uint8Array([1]));
  assertThrows(
    () => openEnvelope(ks.kek(1, "credentials", ACTOR), 2, CTX, blob),
    EnvelopeAuthFailed,
  );
});

Deno.test("the embedded seal key is created once (0600) and refused if the keystore outlives it", async () => {
  await using dir = await tempDir();
  const keystorePath = join(dir.path, "signer/keystore.json");
  const k1 = await loadSealKey({ dataDir: dir.path, keystorePath });
  assertEquals((await Deno.stat(join(dir.path, "seal.key"))).mode! & 0o777, 0o600);
  assertEquals(await loadSealKey({ dataDir: dir.path, keystorePath }), k1);
  await EpochKeystore.open({ path: keystorePath, sealKey: k1 });
  await Deno.remove(join(dir.path, "seal.key"));
  await assertRejects(
    () => loadSealKey({ dataDir: dir.path, keystorePath }),
    Error,
    "AGENTKEYS_SEAL_KEY",
  );
  const configured = seal();
  assertEquals(await loadSealKey({ configured, dataDir: dir.path, keystorePath }), configured);
});

function flip(b64: string): string {
  const bytes = Uint8Array.fromBase64(b64);
  bytes[bytes.length - 5] ^= 1;
  return bytes.toBase64();
}

Deno.test("refresh picks up a rotation made through another handle (another process)", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "ks.json");
  const sealKey = seal();
  const service = await EpochKeystore.open({ path, sealKey });
  const cli = await EpochKeystore.open({ path, sealKey });
  await service.refresh(0); // nothing changed: no reload needed, still epoch 1
  assertEquals(service.activeEpoch, 1);
  await cli.rotate();
  assertEquals(service.activeEpoch, 1, "not yet refreshed");
  await service.refresh(60_000);
  assertEquals(service.activeEpoch, 1, "throttled: checked too recently");
  await service.refresh(0);
  assertEquals(service.activeEpoch, 2);
  assertEquals(service.stateOf(1), "retiring");
});
