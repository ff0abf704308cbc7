/**
 * Issue 10's "done when", end to end with the real service (embedded chain): the operator adds
 * an agent and stores its credential with the CLI; `deno task sidecar` runs with the agent's
 * device key and writes the env file; an agent process (sh + curl) that sourced the env file
 * calls the upstream through the sidecar and never sees the secret; a program the policy does
 * not name is refused; a scope change empties the cache; a keyring note the operator wrote is read
 * through the sidecar once the policy lists the ring; revoking the agent on chain denies the
 * next request within a second.
 */

import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { freePort, ROOT, runTask, startServiceProcess } from "../support/service_process.ts";
import { tempDir } from "../support/tmp.ts";
import { call, DENO_DIR, fakeUpstream } from "./_support.ts";

const SECRET = "sk-live-e2e-7f3a";
const CURL = Deno.realPathSync("/usr/bin/curl");

Deno.test("done when: an agent that sourced the env file calls upstream through the sidecar without the secret; others are refused; revocation bites within a second", async () => {
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
  const ok = async (...args: string[]) => {
    const r = await runTask("cli", args, env);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  await ok("login");
  const keyFile = /device key file (\S+)/.exec(await ok("agent", "add", "mail-bot"))![1];
  await ok("scope", "set", "mail-bot", "openai");
  await ok("cred", "put", "openai", "--agent", "mail-bot", "--value", SECRET);

  await using upstream = fakeUpstream();
  const home = join(dir.path, "home");
  const policyPath = join(home, ".config", "agentkeys", "policy.toml");
  await Deno.mkdir(join(home, ".config", "agentkeys"), { recursive: true });
  await Deno.writeTextFile(
    policyPath,
    `[[caller]]\nuid = ${Deno.uid()}\nexe = "${CURL}"\nservices = ["openai"]\n\n` +
      `[service.openai]\nupstream = "${upstream.base}"\ninject = "bearer"\n`,
  );
  const socket = join(home, ".agentkeys", "agentkeys-proxy.sock");
  const auditPath = join(home, "audit.jsonl");
  const sidecar = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "sidecar", "--device-key", keyFile, "--audit", auditPath],
    cwd: ROOT,
    env: {
      HOME: home,
      DENO_DIR,
      AGENTKEYS_URL: service.url,
      AGENTKEYS_CLI_HOME: join(dir.path, "cli"),
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const logReader = (async () => {
    for await (const chunk of sidecar.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  try {
    const envFile = join(home, ".config", "agentkeys", "env");
    const deadline = Date.now() + 60_000;
    while (!/listening on/.test(log) || !(await exists(envFile))) {
      assert(Date.now() < deadline, `the sidecar did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals((await Deno.stat(envFile)).mode! & 0o777, 0o600);

    // The agent: a shell that sources the env file and runs curl. It prints its whole
    // environment and the answer; neither may hold the secret.
    const agent = () =>
      new Deno.Command("sh", {
        args: [
          "-c",
          `. '${envFile}' && env && curl -s -w '\\n%{http_code}' --unix-socket "$AGENTKEYS_SIDECAR_SOCKET" ` +
          `-H "Authorization: Bearer $OPENAI_API_KEY" "$OPENAI_BASE_URL/v1/models"`,
        ],
        env: { PATH: "/usr/bin:/bin" },
        clearEnv: true,
      }).output();
    // The event stream may still be connecting; the first request does not depend on it.
    const first = await agent();
    const out = new TextDecoder().decode(first.stdout);
    assertEquals(out.trim().split("\n").at(-1), "200", out);
    assertMatch(out, /OPENAI_API_KEY=agentkeys-placeholder/);
    assert(!out.includes(SECRET), "the agent saw the secret");
    assertEquals(upstream.seen.at(-1)?.authorization, `Bearer ${SECRET}`);

    // This test process (deno) is not in the policy.
    const denied = await call({ socketPath: socket }, "GET", "/openai/v1/models");
    assertEquals(denied.status, 403);
    assertEquals(JSON.parse(denied.body).error, "caller_denied");
    assertEquals(upstream.seen.length, 1);

    // Wait until the sidecar follows the event stream, then revoke on chain.
    await waitFor(() => /event stream connected/.test(log), 10_000);
    assertMatch(log, /event stream connected/);
    // A scope change on chain empties the cache (the next request fetches again).
    await ok("scope", "set", "mail-bot", "openai", "github");
    await waitFor(() => /scope_set: credential cache emptied/.test(log), 10_000);
    assertMatch(log, /scope_set: credential cache emptied/);
    assertEquals(new TextDecoder().decode((await agent()).stdout).trim().split("\n").at(-1), "200");

    // Keyrings (issue 14): the agent publishes its member key, the operator adds it to a ring and
    // writes a note; once the policy lists the ring for curl, the running daemon answers the
    // plaintext (the member key derived from the device key it holds, nothing on disk).
    const NOTE = "team note e2e-41c2";
    await ok("keyring", "publish", "--device-key", keyFile);
    await ok("keyring", "create", "team");
    await ok("keyring", "add", "team", "mail-bot");
    await ok("keyring", "put", "team", "note", "--value", NOTE);
    const readNote = async () => {
      const r = await new Deno.Command(CURL, {
        args: [
          "-s",
          "-w",
          "\n%{http_code}",
          "--unix-socket",
          socket,
          "http://localhost/v1/keyrings/team/note",
        ],
      }).output();
      return new TextDecoder().decode(r.stdout).split("\n");
    };
    assertEquals((await readNote()).at(-1), "403"); // keyring_denied: not in curl's entry yet
    await Deno.writeTextFile(
      policyPath,
      `[[caller]]\nuid = ${Deno.uid()}\nexe = "${CURL}"\nservices = ["openai"]\nkeyrings = ["team"]\n\n` +
        `[service.openai]\nupstream = "${upstream.base}"\ninject = "bearer"\n`,
    );
    await waitFor(() => /policy .* reloaded/.test(log), 10_000);
    assertEquals(await readNote(), [NOTE, "200"]);

    const revokedAt = await ok("agent", "revoke", "mail-bot").then(() => performance.now());
    let status = "200";
    let body = "";
    while (status === "200") {
      const lines = new TextDecoder().decode((await agent()).stdout).trim().split("\n");
      status = lines.at(-1)!;
      body = lines.at(-2)!;
      assert(performance.now() - revokedAt < 1000 || status !== "200", "still served after 1 s");
    }
    assertEquals(status, "502");
    assertEquals(JSON.parse(body).error, "credential_refused");
    assertMatch(body, /device_revoked/);

    const audit = (await Deno.readTextFile(auditPath)).trim().split("\n").map((l) => JSON.parse(l));
    assert(
      audit.some((a) => a.exe === CURL && a.decision === "forwarded" && a.upstream_status === 200),
    );
    assert(audit.some((a) => a.decision === "caller_denied"));
    assert(audit.some((a) => a.keyring === "team/note" && a.decision === "keyring_read"));
    assert(audit.some((a) => a.keyring === "team/note" && a.decision === "keyring_denied"));
    assert(
      !(await Deno.readTextFile(auditPath)).includes(SECRET),
      "the audit log holds the secret",
    );
    assert(!(await Deno.readTextFile(auditPath)).includes(NOTE), "the audit log holds the note");
  } catch (err) {
    // What the sidecar said is what explains a failure here.
    throw new Error(`${(err as Error).message}\n--- sidecar log:\n${log}`, { cause: err });
  } finally {
    sidecar.kill("SIGTERM");
    await sidecar.status;
    await logReader;
  }
  assertMatch(log, /agent_revoked: credential cache emptied/);
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms: number) {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}
