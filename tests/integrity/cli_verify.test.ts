/**
 * `deno task cli cred verify` (and `inbox verify`) against a started service on the embedded
 * chain, as a user types it: a stored credential (and an inbound message) is proven against the root anchored in VaultAnchor (read through the
 * chain proxy), and with `--store-dir` the stored bytes are hashed too; a rolled-back blob fails
 * the byte check. `GET /v1/cred/proof` refuses without a session, for another operator's actor
 * and for a malformed service, and answers 404 for a credential that was never stored.
 *
 * @module
 */

import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { freePort, runTask, startServiceProcess } from "../support/service_process.ts";
import { loadSession } from "../../lib/cli/_session_file.ts";

Deno.test("cli cred verify: proven against the chain, stored bytes hashed; a rollback fails the byte check", async () => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: data,
    AGENTKEYS_PORT: String(freePort()),
    AGENTKEYS_ANCHOR_EVERY: "1s",
  });
  const env = {
    AGENTKEYS_URL: service.url,
    AGENTKEYS_CLI_HOME: join(dir.path, "cli"),
    AGENTKEYS_OPERATOR_KEY: generatePrivateKey(),
  };
  const cli = (...args: string[]) => runTask("cli", args, env);
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  await ok("login");
  await ok("cred", "put", "openai", "--value", "sk-old");
  const saved = (await loadSession(join(dir.path, "cli")))!;
  const key = `bots/${saved.operator_omni.slice(2)}/credentials/openai.enc`;
  const older = await Deno.readFile(join(data, "blobs", key));
  await ok("cred", "put", "openai", "--value", "sk-new");
  // Anchored within a second (AGENTKEYS_ANCHOR_EVERY=1s).
  let out = "";
  for (let i = 0; i < 40; i++) {
    const r = await cli("cred", "verify", "openai", "--store-dir", join(data, "blobs"));
    out = r.stdout;
    if (r.code === 0) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  assertMatch(out, /root 0x[0-9a-f]{64} anchored on chain 31337 at seq \d+/);
  assertMatch(out, /stored bytes match the pointer/);
  assertMatch(out, /^verified$/m);

  // An inbound message, the same way (`inbox verify`), once an anchor covers it.
  const id = (await ok("inbox", "put", "--value", "hello")).trim();
  let inboxOut = "";
  for (let i = 0; i < 40; i++) {
    const r = await cli("inbox", "verify", id, "--store-dir", join(data, "blobs"));
    inboxOut = r.stdout;
    if (r.code === 0) break;
    await new Promise((res) => setTimeout(res, 250));
  }
  assertMatch(inboxOut, /pointer: bots\/[0-9a-f]{64}\/inbound\//);
  assertMatch(inboxOut, /stored bytes match the pointer/);
  assertMatch(inboxOut, /^verified$/m);
  const unknown = await cli("inbox", "verify", "no-such-message");
  assertEquals(unknown.code === 0, false, unknown.stdout);

  await Deno.writeFile(join(data, "blobs", key), older); // rollback by the store's operator
  const rolled = await cli("cred", "verify", "openai", "--store-dir", join(data, "blobs"));
  assertEquals(rolled.code, 1, rolled.stdout);
  assertMatch(rolled.stdout, /FAILED: the stored bytes hash to [0-9a-f]{64}, the pointer says/);
  const get = await cli("cred", "get", "openai");
  assertEquals(get.code, 1);
  assertMatch(get.stderr, /integrity_mismatch/);

  // The route's refusals.
  const url = (q: string) => `${service.url}/v1/cred/proof?${q}`;
  const auth = { authorization: `Bearer ${saved.session_jwt}` };
  const none = await fetch(url(`actor_omni=${saved.operator_omni}&service=openai`));
  assertEquals(none.status, 401);
  await none.body?.cancel();
  const other = await fetch(url(`actor_omni=0x${"77".repeat(32)}&service=openai`), {
    headers: auth,
  });
  assertEquals([other.status, (await other.json()).error], [403, "other_operator"]);
  const bad = await fetch(url(`actor_omni=${saved.operator_omni}&service=NOPE!`), {
    headers: auth,
  });
  assertEquals([bad.status, (await bad.json()).error], [400, "bad_request"]);
  const missing = await fetch(url(`actor_omni=${saved.operator_omni}&service=github`), {
    headers: auth,
  });
  assertEquals([missing.status, (await missing.json()).error], [404, "not_found"]);
  const health = await (await fetch(`${service.url}/healthz`)).json();
  assert(health.integrity.enabled, JSON.stringify(health.integrity));
  assert(health.integrity.anchored_seq >= 2, JSON.stringify(health.integrity));
  assertEquals([health.integrity.failing, health.integrity.blocked], [false, false]);
  // Review: the write rate and error details are not for sessionless callers.
  for (const hidden of ["pending_writes", "last_error", "next_attempt_at", "failures"]) {
    assert(!(hidden in health.integrity), `${hidden} in /healthz`);
  }
});
