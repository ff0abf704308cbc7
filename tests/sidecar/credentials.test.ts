/**
 * The sidecar's credential source against the real broker and worker (in-process harness), and
 * the device key file checks.
 */

import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { ApiCallError } from "../../lib/client/mod.ts";
import { sidecarMain } from "../../lib/sidecar/mod.ts";
import {
  DeviceKeyRefused,
  readDeviceKey,
  ServiceCredentials,
} from "../../lib/sidecar/_credentials.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { newAccount, PUBLIC_URL, testService } from "../support/broker_harness.ts";
import { b64 } from "../support/harness.ts";
import { tempDir } from "../support/tmp.ts";

Deno.test("ServiceCredentials logs in with the device key and fetches the agent's credential through a cap", async () => {
  await using s = await testService();
  const operator = newAccount();
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  s.identity.setScope(agent.operatorOmni, agent.actorOmni, ["openai"]);
  const opToken = await s.loginOperator(operator);
  const grant = {
    operator_omni: agent.operatorOmni,
    actor_omni: agent.actorOmni,
    service: "openai",
  };
  const store = await s.call("POST", "/v1/cap/cred-store", opToken, grant);
  await s.call("POST", "/v1/cred/store", store.body.cap as string, {
    plaintext_b64: b64("sk-live\n"),
  });

  const creds = new ServiceCredentials(
    PUBLIC_URL,
    device,
    async (input, init) => await s.app.fetch(new Request(input, init)),
  );
  assertEquals(await creds.fetch("openai"), "sk-live");
  // Out of scope: the broker refuses the cap, and the refusal surfaces as an ApiCallError.
  let caught: unknown;
  try {
    await creds.fetch("github");
  } catch (err) {
    caught = err;
  }
  assert(caught instanceof ApiCallError && caught.status === 403, String(caught));
});

Deno.test("readDeviceKey accepts a 0600 hex key and refuses one readable by others or not a key", async () => {
  await using dir = await tempDir();
  const good = join(dir.path, "bot-0.key");
  const key = generatePrivateKey();
  await Deno.writeTextFile(good, key + "\n", { mode: 0o600 });
  await Deno.chmod(good, 0o600);
  assert((await readDeviceKey(good)).address.startsWith("0x"));

  const open = join(dir.path, "open.key");
  await Deno.writeTextFile(open, key);
  await Deno.chmod(open, 0o644);
  const junk = join(dir.path, "junk.key");
  await Deno.writeTextFile(junk, "not a key");
  await Deno.chmod(junk, 0o600);
  for (const path of [open, junk]) {
    let caught: unknown;
    try {
      await readDeviceKey(path);
    } catch (err) {
      caught = err;
    }
    assert(caught instanceof DeviceKeyRefused, `${path}: ${caught}`);
  }
});

Deno.test("deno task sidecar without --device-key or with an unknown flag is a usage error", async () => {
  const env = { url: PUBLIC_URL, home: "/nonexistent", userHome: "/nonexistent" };
  assertEquals(await sidecarMain([], env), 2);
  assertEquals(await sidecarMain(["--device-key", "k", "--bogus"], env), 2);
  assertEquals(await sidecarMain(["--device-key", "/nonexistent/k"], env), 1);
  // Device signatures over plain http to another host: refused before the key is even read.
  const clear = ["--device-key", "/nonexistent/k", "--url", "http://vault.lan:8787"];
  assertEquals(await sidecarMain(clear, env), 2);
  assertEquals(await sidecarMain(clear, { ...env, allowHttp: true }), 1);
});
