/**
 * `deno task start` with AGENTKEYS_PORT=0 (review finding): the service binds first, then builds
 * the broker with the port it got, so the OIDC issuer, the SIWE domain and URI, `rpc_url` and
 * the Host check all carry the real port (they used to say `:0`). And the real server's Host
 * check, body limit and RPC proxy, end to end.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { freePort, ROOT, startServiceProcess } from "../support/service_process.ts";
import { readServiceRuntime } from "../../lib/service/_runtime.ts";

/** One raw HTTP/1.1 request with the given Host header; returns the status and the body. */
async function withHost(port: number, host: string, path: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = await new Response(conn.readable).text();
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test("AGENTKEYS_PORT=0: issuer, SIWE domain and URI, rpc_url and the printed URL carry the bound port", async () => {
  await using dir = await tempDir();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
    AGENTKEYS_PORT: "0",
  });
  const url = service.url;
  assertMatch(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(new URL(url).port);
  assert(port > 0, url);

  const oidc = await (await fetch(`${url}/.well-known/openid-configuration`)).json();
  assertEquals(oidc.issuer, url);
  assertEquals(oidc.jwks_uri, `${url}/.well-known/jwks.json`);

  const start = await fetch(`${url}/v1/auth/siwe/start`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ address: "0x" + "ab".repeat(20), chain_id: 31337 }),
  });
  assertEquals(start.status, 200);
  const message = String((await start.json()).message);
  assert(message.startsWith(`127.0.0.1:${port} wants you to sign in`), message);
  assert(message.includes(`\nURI: ${url}\n`), message);

  const chain = await (await fetch(`${url}/v1/chain`)).json();
  assertEquals(chain.rpc_url, `${url}/v1/chain/rpc`);
  const runtime = await readServiceRuntime(join(dir.path, "data"));
  assert(runtime !== null, "service.json is written for the headless commands");
  assert(!JSON.stringify(chain).includes(runtime.rpc_url), "anvil's URL is not published");

  // The proxy on the real server, and the 64 KiB body limit in front of it.
  const rpc = await fetch(chain.rpc_url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" }),
  });
  assertEquals((await rpc.json()).result, "0x7a69");
  const big = await fetch(chain.rpc_url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_sendRawTransaction",
      params: ["0x" + "00".repeat(64 * 1024)],
    }),
  });
  assertEquals([big.status, (await big.json()).error], [413, "too_large"]);

  // DNS rebinding on the real listener: the Host header decides.
  const evil = await withHost(port, "evil.example", "/healthz");
  assertEquals([evil.status, JSON.parse(evil.body).error], [421, "misdirected_request"]);
  assertEquals((await withHost(port, `evil.example:${port}`, "/v1/chain")).status, 421);
  assertEquals((await withHost(port, "127.0.0.1:1", "/healthz")).status, 421);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
    assertEquals((await withHost(port, host, "/healthz")).status, 200, host);
  }
});

Deno.test("bound before it is built: requests meanwhile get 503 starting, then the service answers", async () => {
  await using dir = await tempDir();
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "start"],
    cwd: ROOT,
    env: { AGENTKEYS_DATA_DIR: join(dir.path, "data"), AGENTKEYS_PORT: String(port) },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const seen: number[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      let res: Response;
      try {
        res = await fetch(`http://127.0.0.1:${port}/healthz`);
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // not listening yet
        continue;
      }
      const body = await res.json();
      if (seen.at(-1) !== res.status) seen.push(res.status);
      if (res.status === 503) {
        assertEquals(body.error, "starting");
        assertEquals(res.headers.get("retry-after"), "1");
      }
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // Anvil's start and the first deployment take far longer than one poll.
    assertEquals(seen, [503, 200]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
