/**
 * `deno task start` as a user runs it: a fresh data directory, the embedded defaults, `/healthz`,
 * the admin claim token printed once.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { tempDir } from "../support/tmp.ts";
import { ROOT, startServiceProcess } from "../support/service_process.ts";

/** Starts main.ts on a free port; resolves with its URL once it prints it. */
async function startService(env: Record<string, string>) {
  return await startServiceProcess(env);
}

async function stop(child: { stop(): Promise<Deno.CommandStatus> }) {
  return await child.stop();
}

Deno.test("deno task start: embedded defaults, /healthz answers, the claim token printed once, state survives a restart", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  const first = await startService({ AGENTKEYS_DATA_DIR: data });
  const health = await (await fetch(`${first.url}/healthz`)).json();
  assertEquals([health.ok, health.store, health.k3_epoch], [true, "fs", 1]);
  assert(Array.isArray(health.roles) && health.roles.includes("worker"));
  // No AGENTKEYS_ADMINS: the first start prints the one-time admin claim token and its command.
  const [, printed] = await first.waitForOutput(/admin claim token: ([0-9a-f]{64})\n/);
  assertMatch(
    first.output(),
    new RegExp(`npx -y deno@2\\.9\\.6 task cli login --claim-admin ${printed} --url ${first.url}`),
  );
  const tokenFile = join(data, "admin-claim.token");
  assertEquals((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
  assertEquals((await Deno.readTextFile(tokenFile)).trim(), printed);
  assertEquals((await stop(first)).code, 0, "SIGTERM is a clean shutdown");

  const names = [...Deno.readDirSync(data)].map((e) => e.name).sort();
  for (const expected of ["seal.key", "signer", "state.kv", "broker"]) {
    assert(names.includes(expected), `data dir has ${expected}: ${names}`);
  }
  assertEquals((await Deno.stat(join(data, "seal.key"))).mode! & 0o777, 0o600);
  const keystoreBefore = await Deno.readTextFile(join(data, "signer/keystore.json"));

  const second = await startService({ AGENTKEYS_DATA_DIR: data });
  assertEquals((await (await fetch(`${second.url}/healthz`)).json()).k3_epoch, 1);
  await second.waitForOutput(/unclaimed admin claim token in \S+admin-claim\.token/);
  assert(!second.output().includes(printed), "a later start never prints the token again");
  assertEquals(
    (await Deno.readTextFile(tokenFile)).trim(),
    printed,
    "the same token, not a new one",
  );
  await stop(second);
  assertEquals(await Deno.readTextFile(join(data, "signer/keystore.json")), keystoreBefore);
});

Deno.test("a bad setting exits 2 with a message naming it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { AGENTKEYS_PORT: "not-a-port" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  assert(new TextDecoder().decode(out.stderr).includes("AGENTKEYS_PORT"));
});

Deno.test("a wrong seal key refuses to start and leaves the keystore untouched", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  const first = await startService({
    AGENTKEYS_DATA_DIR: data,
    AGENTKEYS_SEAL_KEY: "aa".repeat(32),
  });
  await stop(first);
  const before = await Deno.readFile(join(data, "signer/keystore.json"));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { AGENTKEYS_DATA_DIR: data, AGENTKEYS_SEAL_KEY: "bb".repeat(32), AGENTKEYS_PORT: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 1);
  assert(new TextDecoder().decode(out.stderr).includes("wrong seal key"));
  assertEquals(await Deno.readFile(join(data, "signer/keystore.json")), before);
});

Deno.test("SIGTERM while the service is still starting stops it cleanly, with its anvil", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { AGENTKEYS_DATA_DIR: data, AGENTKEYS_PORT: "0" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  // anvil.pid appears once anvil runs; the contracts are deployed after it, so the service is
  // still starting when the signal lands.
  const pidFile = join(data, "chain", "anvil.pid");
  let anvilPid = 0;
  for (let i = 0; i < 600 && anvilPid === 0; i++) {
    anvilPid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim()) || 0;
    if (anvilPid === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert(anvilPid > 0, "anvil never started");
  child.kill("SIGTERM");
  const status = await child.status;
  assertEquals(status.code, 0, "a signal during start is a clean shutdown");
  assertEquals(await Deno.stat(`/proc/${anvilPid}`).then(() => "alive", () => "gone"), "gone");
});
