/**
 * The identity issue's "done when", as a user types it: `deno task start` brings up anvil, the
 * contracts, the broker and the worker; the CLI alone logs in as an operator, adds an agent,
 * sets its scope, stores a credential as the operator, and the agent fetches it (device login
 * + cap). Then revocation bites.
 */

import { assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { tempDir } from "../support/tmp.ts";
import { freePort, runTask, startServiceProcess } from "../support/service_process.ts";

Deno.test("CLI end to end against a started service on the embedded chain", async () => {
  await using dir = await tempDir();
  const port = freePort();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
    AGENTKEYS_PORT: String(port),
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

  assertMatch(await ok("login"), /logged in as 0x[0-9a-fA-F]{40}/);
  const added = await ok("agent", "add", "mail-bot");
  const keyFile = /device key file (\S+)/.exec(added)![1];
  assertEquals((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
  await ok("scope", "set", "mail-bot", "openai", "github");
  const who = JSON.parse(await ok("whoami"));
  assertEquals(who.agents.length, 1);
  assertEquals(who.agents[0].label, "mail-bot");
  assertEquals(who.agents[0].scope, { services: ["openai", "github"], read_only: false });
  assertEquals(who.is_admin, false, "signing in does not make an admin");
  // The operator becomes admin with the token the service printed at its first start.
  const [, token] = await service.waitForOutput(/admin claim token: ([0-9a-f]{64})\n/);
  assertMatch(await ok("login", "--claim-admin", token), /is now an admin/);
  assertEquals(JSON.parse(await ok("whoami")).is_admin, true);
  const reuse = await cli("login", "--claim-admin", token);
  assertEquals(reuse.code, 1);
  assertMatch(reuse.stderr, /claim_unavailable/);

  await ok("cred", "put", "openai", "--agent", "mail-bot", "--value", "sk-live-123");
  assertEquals((await ok("cred", "get", "openai", "--device-key", keyFile)).trim(), "sk-live-123");
  assertEquals((await ok("cred", "get", "openai", "--agent", "mail-bot")).trim(), "sk-live-123");

  // Out of scope: refused with exit 1 and the API's code.
  const slack = await cli("cred", "put", "slack", "--agent", "mail-bot", "--value", "x");
  assertEquals(slack.code, 1);
  assertMatch(slack.stderr, /out_of_scope/);

  await ok("agent", "revoke", "mail-bot");
  const revoked = await cli("cred", "get", "openai", "--device-key", keyFile);
  assertEquals(revoked.code, 1);
  assertMatch(revoked.stderr, /device_revoked/);
  // The revoked agent's blobs stay until its operator purges them.
  assertMatch(await ok("agent", "revoke", "mail-bot", "--purge"), /purged: 1 blob\(s\) deleted/);
  assertMatch(await ok("agent", "revoke", "mail-bot", "--purge"), /purged: 0 blob\(s\) deleted/);
  // A second agent: revoke and purge in one go.
  await ok("agent", "add", "cron-bot");
  await ok("scope", "set", "cron-bot", "openai");
  await ok("cred", "put", "openai", "--agent", "cron-bot", "--value", "sk-cron");
  const both = await ok("agent", "revoke", "cron-bot", "--purge");
  assertMatch(both, /agent cron-bot revoked \(tx 0x[0-9a-f]+\)\n.*purged: 1 blob\(s\) deleted/);

  const usage = await cli("agent", "frobnicate");
  assertEquals(usage.code, 2);
});
