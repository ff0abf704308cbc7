/**
 * An HTTPS upstream: the sidecar's node:https client verifies the certificate against the root
 * store (here a test CA given by NODE_EXTRA_CA_CERTS, which on the pinned Deno reaches node:https
 * as well as fetch; DENO_CERT reaches only fetch) and refuses one it cannot verify.
 */

import { request } from "node:http";
import { join } from "node:path";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";

const SECRET = "sk-tls-secret";
const CHILD = new URL("./_tls_child.ts", import.meta.url).pathname;

async function certificate(dir: string): Promise<{ cert: string; key: string }> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert(out.success, `openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return {
    cert: await Deno.readTextFile(join(dir, "cert.pem")),
    key: await Deno.readTextFile(join(dir, "key.pem")),
  };
}

async function startChild(socketPath: string, upstream: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, socketPath, upstream, SECRET],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assertEquals((await reader.read()).value?.trim(), "ready");
  reader.releaseLock();
  return {
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => body += c);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

Deno.test("an HTTPS upstream is reached with its certificate verified; an unverifiable one is a 502", async () => {
  await using dir = await tempDir();
  const { cert, key } = await certificate(dir.path);
  const seen: string[] = [];
  await using upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (req) => {
      seen.push(req.headers.get("authorization") ?? "");
      return new Response("over tls");
    },
  );
  const base = `https://127.0.0.1:${upstream.addr.port}`;

  const trusted = join(dir.path, "trusted", "s.sock");
  {
    await using _ = await startChild(trusted, base, {
      NODE_EXTRA_CA_CERTS: join(dir.path, "cert.pem"),
    });
    assertEquals(await get(trusted, "/tls/v1/x"), { status: 200, body: "over tls" });
    assertEquals(await get(trusted, "/tls/v1/y"), { status: 200, body: "over tls" });
    assertEquals(seen, [`Bearer ${SECRET}`, `Bearer ${SECRET}`]);
  }

  const untrusted = join(dir.path, "untrusted", "s.sock");
  {
    await using _ = await startChild(untrusted, base, {});
    const r = await get(untrusted, "/tls/v1/x");
    assertEquals(r.status, 502);
    assertEquals(JSON.parse(r.body).error, "upstream_failed");
    assertEquals(seen.length, 2, "the secret went to a server whose certificate failed");
  }
});
