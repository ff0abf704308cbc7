import { assertEquals, assertRejects } from "../support/assert.ts";
import { join } from "node:path";
import { KeyringUnreadable, SigningKeyring } from "../../lib/broker/mod.ts";
import { tempDir } from "../support/tmp.ts";

Deno.test("a keyring survives a reopen and refuses a wrong seal key without touching the file", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "k1.json");
  const sealKey = crypto.getRandomValues(new Uint8Array(32));
  const a = await SigningKeyring.open({ path, sealKey, purpose: "k1", retainSeconds: 60 });
  const b = await SigningKeyring.open({ path, sealKey, purpose: "k1", retainSeconds: 60 });
  assertEquals(a.current.kid, b.current.kid);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  const before = await Deno.readFile(path);
  await assertRejects(
    () =>
      SigningKeyring.open({ path, sealKey: new Uint8Array(32), purpose: "k1", retainSeconds: 60 }),
    KeyringUnreadable,
  );
  // The purpose is bound in: a K1 file does not open as K2.
  await assertRejects(
    () => SigningKeyring.open({ path, sealKey, purpose: "k2", retainSeconds: 60 }),
    KeyringUnreadable,
  );
  assertEquals(await Deno.readFile(path), before);
});

Deno.test("retired keys leave the JWKS once everything they signed has expired", async () => {
  await using dir = await tempDir();
  let now = 1_000_000;
  const ring = await SigningKeyring.open({
    path: join(dir.path, "k.json"),
    sealKey: crypto.getRandomValues(new Uint8Array(32)),
    purpose: "k1",
    retainSeconds: 60,
    now: () => now,
  });
  const first = ring.current.kid;
  await ring.rotate();
  assertEquals(ring.jwks().keys.map((k) => k.kid), [ring.current.kid, first]);
  now += 61_000;
  assertEquals(ring.jwks().keys.map((k) => k.kid), [ring.current.kid]);
});
