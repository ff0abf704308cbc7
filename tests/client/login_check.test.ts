/**
 * Clients sign only what they meant to: `AgentKeysClient` and the CLI check the login message a
 * server composed (SIWE: domain, URI, chain id, address; device: domain and device) before any
 * signature is made. A fake server answers with messages for somewhere else; the real broker's
 * messages pass.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";
import { join } from "node:path";
import { Hono } from "hono";
import { getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createSiweMessage } from "viem/siwe";
import { AgentKeysClient, LoginMessageMismatch, type MessageSigner } from "../../lib/client/mod.ts";
import { main as cli } from "../../lib/cli/mod.ts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { tempDir } from "../support/tmp.ts";
import { lineIO } from "../support/cli_io.ts";

/** Serves `fetch` on a free loopback port; the handler may be bound after the port is known. */
function serve(handler: () => (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => handler()(req),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A signer that records whether it was ever asked to sign. */
function countingSigner(): MessageSigner & { calls: number } {
  const account = privateKeyToAccount(generatePrivateKey());
  const signer = {
    address: account.address,
    calls: 0,
    signMessage(args: { message: string }) {
      signer.calls++;
      return account.signMessage(args);
    },
  };
  return signer;
}

interface Overrides {
  domain?: string;
  uri?: string;
  chainId?: number;
  address?: `0x${string}`;
  raw?: string;
  deviceDomain?: string;
  device?: string;
}

/** A server that answers logins with messages shaped by `overrides` and counts verifies. */
function fakeServer(overrides: () => Overrides) {
  const seen = { verify: 0 };
  let url = "";
  const app = new Hono();
  app.get("/v1/chain", (c) => c.json({ chain_id: 31337, contracts: {} }));
  app.post("/v1/auth/siwe/start", async (c) => {
    const body = await c.req.json();
    const o = overrides();
    const message = o.raw ?? createSiweMessage({
      domain: o.domain ?? new URL(url).host,
      address: o.address ?? getAddress(body.address),
      uri: o.uri ?? url,
      version: "1",
      chainId: o.chainId ?? 31337,
      nonce: "abcdefgh12345678",
      issuedAt: new Date(),
      expirationTime: new Date(Date.now() + 60_000),
    });
    return c.json({ request_id: "r1", message, nonce: "abcdefgh12345678" });
  });
  app.post("/v1/auth/device/start", async (c) => {
    const body = await c.req.json();
    const o = overrides();
    const message = o.raw ?? [
      `${
        o.deviceDomain ?? new URL(url).host
      } asks this AgentKeys device to prove possession of its key.`,
      "",
      `Device: ${o.device ?? getAddress(body.device_address)}`,
      `Nonce: ${"ab".repeat(16)}`,
      `Issued At: ${new Date().toISOString()}`,
      `Expiration Time: ${new Date(Date.now() + 60_000).toISOString()}`,
    ].join("\n");
    return c.json({ request_id: "r2", message });
  });
  app.post("/v1/auth/:kind/verify", (c) => {
    seen.verify++;
    return c.json({
      session_jwt: "x.y.z",
      operator_omni: "0x" + "11".repeat(32),
      actor_omni: "0x" + "22".repeat(32),
    });
  });
  const server = serve(() => app.fetch);
  url = server.url;
  return { seen, url, [Symbol.asyncDispose]: server[Symbol.asyncDispose] };
}

Deno.test("client: a SIWE message for another domain, URI, chain or address is never signed", async () => {
  let overrides: Overrides = {};
  await using server = fakeServer(() => overrides);
  const api = new AgentKeysClient(server.url);
  const cases: [Overrides, string][] = [
    [{ domain: "evil.example" }, "domain"],
    [{ domain: "127.0.0.1:1" }, "domain"],
    [{ uri: "https://evil.example" }, "uri"],
    [{ uri: server.url + "/phish" }, "uri"],
    [{ chainId: 1 }, "chain_id"],
    [{ address: getAddress(newAccount().address) }, "address"],
    [{ raw: "Transfer everything to 0xdead" }, "format"],
  ];
  for (const [change, field] of cases) {
    overrides = change;
    const signer = countingSigner();
    const err = await assertRejects(
      () => api.loginWithWallet(signer, 31337),
      LoginMessageMismatch,
    );
    assertEquals((err as LoginMessageMismatch).field, field, JSON.stringify(change));
    assertEquals(signer.calls, 0, `nothing signed for ${JSON.stringify(change)}`);
  }
  // The chain id the client asked for, not whatever the message says.
  overrides = {};
  const other = countingSigner();
  const wrongChain = await assertRejects(() => api.loginWithWallet(other, 1), LoginMessageMismatch);
  assertEquals([(wrongChain as LoginMessageMismatch).field, other.calls], ["chain_id", 0]);
  assertEquals(server.seen.verify, 0);

  // The control: the same server with an honest message gets a signature.
  const honest = countingSigner();
  await api.loginWithWallet(honest);
  assertEquals([honest.calls, server.seen.verify], [1, 1]);
});

Deno.test("client: a device challenge for another domain or device, or of another shape, is never signed", async () => {
  let overrides: Overrides = {};
  await using server = fakeServer(() => overrides);
  const api = new AgentKeysClient(server.url);
  const cases: [Overrides, string][] = [
    [{ deviceDomain: "evil.example" }, "domain"],
    [{ device: getAddress(newAccount().address) }, "address"],
    [{ raw: "evil.example wants you to sign in with your Ethereum account:" }, "format"],
  ];
  for (const [change, field] of cases) {
    overrides = change;
    const device = countingSigner();
    const err = await assertRejects(() => api.loginWithDevice(device), LoginMessageMismatch);
    assertEquals((err as LoginMessageMismatch).field, field);
    assertEquals(device.calls, 0);
  }
  assertEquals(server.seen.verify, 0);
  overrides = {};
  const honest = countingSigner();
  await api.loginWithDevice(honest);
  assertEquals([honest.calls, server.seen.verify], [1, 1]);
});

Deno.test("CLI: login and device login against a server of another domain exit 1, nothing signed", async () => {
  await using dir = await tempDir();
  await using server = fakeServer(() => ({ domain: "evil.example", deviceDomain: "evil.example" }));
  const io = lineIO();
  const { err } = io;
  const env = { url: server.url, home: join(dir.path, "cli"), operatorKey: generatePrivateKey() };
  assertEquals(await cli(["login"], env, io), 1);
  assertMatch(err.join("\n"), /refusing to sign: the login message's domain is evil\.example/);
  const keyFile = join(dir.path, "device.key");
  await Deno.writeTextFile(keyFile, generatePrivateKey());
  assertEquals(await cli(["cred", "get", "openai", "--device-key", keyFile], env, io), 1);
  assertMatch(err.at(-1)!, /refusing to sign/);
  assertEquals(server.seen.verify, 0, "no signature reached the server");
  assert(!(await Deno.stat(join(env.home, "session.json")).then(() => true, () => false)));
});

Deno.test("client: the broker's own SIWE and device messages pass the checks", async () => {
  let fetcher: (req: Request) => Response | Promise<Response> = () =>
    new Response(null, { status: 503 });
  await using server = serve(() => fetcher);
  await using s = await testService({ publicUrl: server.url });
  fetcher = (req) => s.app.fetch(req);
  const api = new AgentKeysClient(server.url + "/");
  const operator = countingSigner();
  const login = await api.loginWithWallet(operator, 31337);
  assert(login.session_jwt.length > 0);
  const device = countingSigner();
  s.identity.register(operator.address, "mail-bot", device.address);
  const agent = await api.loginWithDevice(device);
  assert(agent.session_jwt.length > 0);
  assertEquals([operator.calls, device.calls], [1, 1]);
});
