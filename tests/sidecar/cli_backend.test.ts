/**
 * `deno task cli cred get --credential-backend=sidecar`: the secret comes from the local sidecar
 * when its policy reveals it to this program, the sidecar's refusal otherwise; bad flags are
 * usage errors.
 */

import { join } from "node:path";
import { main } from "../../lib/cli/mod.ts";
import { parsePolicy, startSidecar } from "../../lib/sidecar/mod.ts";
import type { CredentialSource } from "../../lib/sidecar/_credentials.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { lineIO } from "../support/cli_io.ts";
import { tempDir } from "../support/tmp.ts";
import { DENO } from "./_support.ts";

const creds: CredentialSource = { fetch: () => Promise.resolve("sk-revealed") };

async function sidecarRevealing(reveal: boolean) {
  const dir = await tempDir();
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const policy = parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${DENO}"
services = ["openai"]
reveal = ${reveal}

[service.openai]
upstream = "https://api.openai.example"
inject = "bearer"
`);
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials: creds,
    audit: () => {},
  });
  return {
    socketPath,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      await sidecar.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const env = (home: string) => ({ url: "http://127.0.0.1:1", home });

Deno.test("cred get --credential-backend=sidecar prints the secret the sidecar reveals", async () => {
  await using s = await sidecarRevealing(true);
  const io = lineIO();
  const code = await main(
    ["cred", "get", "openai", "--credential-backend=sidecar", "--socket", s.socketPath],
    env(s.dir),
    io,
  );
  assertEquals(code, 0, io.err.join("\n"));
  assertEquals(io.out, ["sk-revealed"]);
});

Deno.test("cred get --credential-backend=sidecar: the socket is found under XDG_RUNTIME_DIR", async () => {
  await using s = await sidecarRevealing(true);
  const io = lineIO();
  const code = await main(
    ["cred", "get", "openai", "--credential-backend", "sidecar"],
    { ...env(s.dir), runtimeDir: join(s.dir, "run") },
    io,
  );
  assertEquals(code, 0, io.err.join("\n"));
  assertEquals(io.out, ["sk-revealed"]);
});

Deno.test("cred get --credential-backend=sidecar surfaces the sidecar's refusal and a missing sidecar", async () => {
  await using s = await sidecarRevealing(false);
  let io = lineIO();
  let code = await main(
    ["cred", "get", "openai", "--credential-backend=sidecar", "--socket", s.socketPath],
    env(s.dir),
    io,
  );
  assertEquals(code, 1);
  assertEquals(io.out, []);
  assert(io.err.join("\n").includes("reveal_denied"), io.err.join("\n"));
  io = lineIO();
  code = await main(
    ["cred", "get", "openai", "--credential-backend=sidecar", "--socket", join(s.dir, "none")],
    env(s.dir),
    io,
  );
  assertEquals(code, 1);
  assert(io.err.join("\n").includes("sidecar_unreachable"), io.err.join("\n"));
});

Deno.test("cred get: a bad --credential-backend, or --socket without sidecar, is a usage error", async () => {
  for (
    const args of [
      ["--credential-backend=vault"],
      ["--socket", "/tmp/x.sock"],
      ["--credential-backend=sidecar", "--device-key", "k"],
    ]
  ) {
    const io = lineIO();
    assertEquals(
      await main(["cred", "get", "openai", ...args], env("/tmp"), io),
      2,
      args.join(" "),
    );
  }
});
