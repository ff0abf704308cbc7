/**
 * `deno task cli inbox put|get|ls|rm` and `deno task cli sts-policy --target rgw` against a
 * started service on the embedded chain (issue 13).
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { tempDir } from "../support/tmp.ts";
import { freePort, runTask, startServiceProcess } from "../support/service_process.ts";

Deno.test("CLI inbox and sts-policy against a started service", async () => {
  await using dir = await tempDir();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
    AGENTKEYS_PORT: String(freePort()),
  });
  const env = {
    AGENTKEYS_URL: service.url,
    AGENTKEYS_CLI_HOME: join(dir.path, "cli"),
    AGENTKEYS_OPERATOR_KEY: generatePrivateKey(),
  };
  const cli = (...args: string[]) => runTask("cli", args, env);
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  await ok("login");
  const added = await ok("agent", "add", "mail-bot");
  const keyFile = /device key file (\S+)/.exec(added)![1];
  const actor = /actor_omni (0x[0-9a-f]{64})/.exec(added)![1];

  // The operator delivers; the agent lists, reads and clears its own inbox.
  const first = (await ok("inbox", "put", "--agent", "mail-bot", "--value", "Subject: one")).trim();
  assertMatch(first, /^[0-9a-f]{12}-[0-9a-f]{16}$/);
  assertEquals(
    (await ok("inbox", "put", "--agent", "mail-bot", "--id", "mail-2", "--value", "two")).trim(),
    "mail-2",
  );
  const listed = (await ok("inbox", "ls", "--device-key", keyFile)).trim().split("\n");
  assertEquals(listed.map((l) => l.split("\t")[0]), [first, "mail-2"]);
  assertEquals((await ok("inbox", "get", first, "--device-key", keyFile)).trim(), "Subject: one");
  assertEquals((await ok("inbox", "get", "mail-2", "--agent", "mail-bot")).trim(), "two");
  assertMatch(await ok("inbox", "rm", "mail-2", "--device-key", keyFile), /removed 1 message/);
  assertMatch(await ok("inbox", "rm", "--all", "--device-key", keyFile), /removed 1 message/);
  assertEquals((await ok("inbox", "ls", "--device-key", keyFile)).trim(), "");
  const usage = await cli("inbox", "rm", "--device-key", keyFile);
  assertEquals(usage.code, 2, "rm needs an id or --all");
  const missing = await cli("inbox", "get", "nope", "--device-key", keyFile);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /not_found/);

  // The RGW role lists the operator and the live agent, one statement each.
  const policy = JSON.parse(await ok("sts-policy", "--target", "rgw", "--bucket", "vault"));
  const resources = policy.role.Statement.map((s: { Resource: string[] }) => s.Resource[0]);
  assert(resources.includes(`arn:aws:s3:::vault/bots/${actor.slice(2)}/*`), resources.join(" "));
  assertEquals(resources.length, 2);
});
