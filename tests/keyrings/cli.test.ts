/**
 * Seed 002 as a user types it: `deno task start` (embedded chain), the operator's CLI and three
 * agents' CLIs (`--device-key`, each with its own CLI home). The transcript is written to
 * tests/out/keyring-walkthrough.txt.
 */

import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { freePort, ROOT, runTask, startServiceProcess } from "../support/service_process.ts";

Deno.test("CLI: operator + agents A, B, C; doc1 at r0; remove C → r1; doc2; B (empty cache) reads both; C refused", async () => {
  await using dir = await tempDir();
  const port = freePort();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
    AGENTKEYS_PORT: String(port),
  });
  const transcript: string[] = [];
  const opEnv = {
    AGENTKEYS_URL: service.url,
    AGENTKEYS_CLI_HOME: join(dir.path, "operator"),
    AGENTKEYS_OPERATOR_KEY: generatePrivateKey(),
  };
  const run = async (env: Record<string, string>, who: string, args: string[]) => {
    const r = await runTask("cli", args, env);
    transcript.push(`$ deno task cli ${args.join(" ")}    # ${who}`);
    for (const line of (r.stdout + r.stderr).trimEnd().split("\n")) transcript.push(line);
    transcript.push(`(exit ${r.code})`, "");
    return r;
  };
  const ok = async (env: Record<string, string>, who: string, ...args: string[]) => {
    const r = await run(env, who, args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const op = (...args: string[]) => ok(opEnv, "operator", ...args);

  await op("login");
  const keys: Record<string, string> = {};
  const agentEnv: Record<string, Record<string, string>> = {};
  for (const label of ["agent-a", "agent-b", "agent-c"]) {
    const added = await op("agent", "add", label, "--out", join(dir.path, "keys"));
    keys[label] = /device key file (\S+)/.exec(added)![1];
    // Each agent its own CLI home: nothing cached is shared with the operator or the others.
    agentEnv[label] = { AGENTKEYS_URL: service.url, AGENTKEYS_CLI_HOME: join(dir.path, label) };
  }
  const agent = (label: string, ...args: string[]) =>
    ok(agentEnv[label], label, ...args, "--device-key", keys[label]);

  for (const label of Object.keys(keys)) await agent(label, "keyring", "publish");
  await op("keyring", "create", "team");
  for (const label of Object.keys(keys)) await op("keyring", "add", "team", label);
  assertMatch(
    await agent("agent-a", "keyring", "put", "team", "doc1", "--value", "r0 secret"),
    /rotation 0/,
  );
  assertMatch(await op("keyring", "remove", "team", "agent-c"), /rotation 1/);
  assertMatch(
    await agent("agent-a", "keyring", "put", "team", "doc2", "--value", "r1 secret"),
    /rotation 1/,
  );
  const shown = await op("keyring", "show", "team");
  assertMatch(shown, /members \(rotation 1\): agent-a, agent-b, operator \(you\)\n/);
  assertMatch(shown, /history rotation 0: agent-a, agent-b, agent-c, operator \(you\)\n/);

  // B with an empty cache (a fresh CLI home): both documents.
  agentEnv["agent-b"].AGENTKEYS_CLI_HOME = join(dir.path, "agent-b-fresh");
  assertEquals((await agent("agent-b", "keyring", "get", "team", "doc1")).trim(), "r0 secret");
  assertEquals((await agent("agent-b", "keyring", "get", "team", "doc2")).trim(), "r1 secret");
  assertEquals(
    (await agent("agent-b", "keyring", "ls", "team")).trim().split("\n").map((l) =>
      l.split("\t")[0]
    ),
    ["doc1", "doc2"],
  );
  // C: refused by the worker for both documents.
  for (const doc of ["doc1", "doc2"]) {
    const c = await run(agentEnv["agent-c"], "agent-c", [
      "keyring",
      "get",
      "team",
      doc,
      "--device-key",
      keys["agent-c"],
    ]);
    assertEquals(c.code, 1);
    assertMatch(c.stderr, /not_a_member/);
  }
  // D joins after the rotation with --with-history: it reads doc1 (r0) too.
  const addAgent = async (label: string) => {
    const added = await op("agent", "add", label, "--out", join(dir.path, "keys"));
    keys[label] = /device key file (\S+)/.exec(added)![1];
    agentEnv[label] = { AGENTKEYS_URL: service.url, AGENTKEYS_CLI_HOME: join(dir.path, label) };
    await agent(label, "keyring", "publish");
  };
  await addAgent("agent-d");
  assertMatch(
    await op("keyring", "add", "team", "agent-d", "--with-history"),
    /with 1 earlier key\(s\)/,
  );
  assertEquals((await agent("agent-d", "keyring", "get", "team", "doc1")).trim(), "r0 secret");
  assertEquals((await agent("agent-d", "keyring", "get", "team", "doc2")).trim(), "r1 secret");
  // A revoked member is still removed (and the key rotated) by label.
  await addAgent("agent-e");
  await op("keyring", "add", "team", "agent-e");
  await op("agent", "revoke", "agent-e");
  assertMatch(await op("keyring", "remove", "team", "agent-e"), /rotation 2/);
  assertEquals((await op("keyring", "ls")).trim(), "team");
  const usage = await run(opEnv, "operator", ["keyring", "frobnicate"]);
  assertEquals(usage.code, 2);

  await Deno.mkdir(join(ROOT, "tests/out"), { recursive: true });
  await Deno.writeTextFile(join(ROOT, "tests/out/keyring-walkthrough.txt"), transcript.join("\n"));
});
