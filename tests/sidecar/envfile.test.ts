/**
 * `~/.config/agentkeys/env` (placeholders per policy service, atomic 0600 write, sourceable by
 * sh) and `deno task sidecar env` / `exec` as the agent runs them.
 */

import { join } from "node:path";
import { parsePolicy } from "../../lib/sidecar/mod.ts";
import { PLACEHOLDER, readEnvFile, sidecarEnv, writeEnvFile } from "../../lib/sidecar/_envfile.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { DENO_DIR } from "./_support.ts";
import { ROOT } from "../support/service_process.ts";

const POLICY = `
[service.openai]
upstream = "https://api.openai.com"
inject = "bearer"

[service.my-maps]
upstream = "https://maps.example"
inject = { query = "key" }
`;

Deno.test("sidecarEnv names a base URL and a placeholder key per service, for the socket and for --tcp", () => {
  const policy = parsePolicy(POLICY);
  assertEquals(sidecarEnv(policy, { socketPath: "/run/user/1000/agentkeys-proxy.sock" }), [
    ["AGENTKEYS_SIDECAR_SOCKET", "/run/user/1000/agentkeys-proxy.sock"],
    ["MY_MAPS_BASE_URL", "http://localhost/my-maps"],
    ["MY_MAPS_API_KEY", PLACEHOLDER],
    ["OPENAI_BASE_URL", "http://localhost/openai"],
    ["OPENAI_API_KEY", PLACEHOLDER],
  ]);
  assertEquals(sidecarEnv(policy, { tcp: { host: "127.0.0.1", port: 9090 } }).slice(0, 2), [
    ["AGENTKEYS_SIDECAR_URL", "http://127.0.0.1:9090"],
    ["MY_MAPS_BASE_URL", "http://127.0.0.1:9090/my-maps"],
  ]);
});

Deno.test("the env file is written atomically with mode 0600, replaces the old one, and sh can source it", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, ".config", "agentkeys", "env");
  const vars: [string, string][] = [["A_BASE_URL", "http://localhost/a"], ["ODD", "it's $HOME"]];
  await writeEnvFile(path, vars);
  await writeEnvFile(path, [...vars, ["B_API_KEY", PLACEHOLDER]]);
  assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  assertEquals((await Deno.stat(join(dir.path, ".config", "agentkeys"))).mode! & 0o777, 0o700);
  const leftovers = [...Deno.readDirSync(join(dir.path, ".config", "agentkeys"))].map((e) =>
    e.name
  );
  assertEquals(leftovers, ["env"], "no temp file left behind");
  assertEquals(await readEnvFile(path), {
    A_BASE_URL: "http://localhost/a",
    ODD: "it's $HOME",
    B_API_KEY: PLACEHOLDER,
  });
  const out = await new Deno.Command("sh", {
    args: ["-c", `. '${path}' && sh -c 'printf "%s|%s" "$ODD" "$B_API_KEY"'`],
    env: {},
  }).output();
  assertEquals(new TextDecoder().decode(out.stdout), `it's $HOME|${PLACEHOLDER}`);
});

Deno.test("deno task sidecar env writes the file; sidecar exec runs a command with it and returns its exit code", async () => {
  await using dir = await tempDir();
  const policyPath = join(dir.path, "policy.toml");
  await Deno.writeTextFile(policyPath, POLICY);
  const envPath = join(dir.path, "env");
  const socket = join(dir.path, "run", "agentkeys-proxy.sock");
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "scripts/sidecar.ts"), ...args],
      env: { HOME: dir.path, DENO_DIR },
      cwd: ROOT,
    }).output();
  const env = await run(["env", "--policy", policyPath, "--socket", socket, "--env", envPath]);
  assertEquals(env.code, 0, new TextDecoder().decode(env.stderr));
  const exec = await run([
    "exec",
    "--env",
    envPath,
    "--",
    "sh",
    "-c",
    'printf "%s %s %s" "$OPENAI_BASE_URL" "$OPENAI_API_KEY" "$AGENTKEYS_SIDECAR_SOCKET"; exit 7',
  ]);
  assertEquals(exec.code, 7);
  assertEquals(
    new TextDecoder().decode(exec.stdout),
    `http://localhost/openai ${PLACEHOLDER} ${socket}`,
  );
  const missing = await run(["exec", "--env", join(dir.path, "nope"), "--", "true"]);
  assertEquals(missing.code, 1);
  assert(new TextDecoder().decode(missing.stderr).includes("is the sidecar running?"));
});
