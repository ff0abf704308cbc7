/**
 * Request smuggling through the sidecar: an agent writes raw HTTP/1.1 on the Unix socket and the
 * upstream must see exactly the requests the sidecar meant to send, each with its own framing,
 * never a second request hidden in a body. Also how the forwarding ends when one side does not
 * play along: an agent gone before the call, an upstream switching protocols unasked.
 */

import { join } from "node:path";
import { startSidecar } from "../../lib/sidecar/mod.ts";
import type { AuditEntry } from "../../lib/sidecar/_server.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { oneServicePolicy, rawCall } from "./_support.ts";

const SECRET = "sk-smuggling-secret";

async function setup() {
  const dir = await tempDir();
  const seen: {
    method: string;
    path: string;
    body: string;
    auth: string | null;
    te: string | null;
  }[] = [];
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push({
      method: req.method,
      path: new URL(req.url).pathname,
      body: await req.text(),
      auth: req.headers.get("authorization"),
      te: req.headers.get("transfer-encoding"),
    });
    return new Response("ok");
  });
  const policy = oneServicePolicy("api", `http://127.0.0.1:${upstream.addr.port}`, {
    extra: `methods = ["GET", "POST", "DELETE", "OPTIONS"]\npaths = ["/allowed"]`,
  });
  const audit: AuditEntry[] = [];
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials: { fetch: () => Promise.resolve(SECRET) },
    audit: (e) => audit.push(e),
  });
  return {
    socketPath,
    seen,
    async [Symbol.asyncDispose]() {
      await sidecar.close();
      await upstream.shutdown();
      await dir[Symbol.asyncDispose]();
    },
  };
}

const HIDDEN = "GET /forbidden HTTP/1.1\r\nHost: upstream\r\n\r\n";

for (const method of ["DELETE", "OPTIONS", "POST"]) {
  Deno.test(`a ${method} body reaches the upstream as that request's body, not as a request of its own`, async () => {
    await using s = await setup();
    const answer = await rawCall(
      s.socketPath,
      `${method} /api/allowed HTTP/1.1\r\nHost: sidecar\r\nContent-Length: ${HIDDEN.length}\r\n` +
        `Connection: close\r\n\r\n${HIDDEN}`,
    );
    assert(answer.startsWith("HTTP/1.1 200"), answer);
    // A following request rides the pooled upstream socket the first one used.
    const next = await rawCall(
      s.socketPath,
      "GET /api/allowed HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n",
    );
    assert(next.startsWith("HTTP/1.1 200"), next);
    assertEquals(s.seen.map((r) => `${r.method} ${r.path}`), [
      `${method} /allowed`,
      "GET /allowed",
    ]);
    assertEquals(s.seen[0].body, HIDDEN);
    assertEquals(s.seen[0].auth, `Bearer ${SECRET}`);
  });
}

Deno.test("a chunked DELETE body is passed on whole, in chunks the upstream can frame", async () => {
  await using s = await setup();
  const answer = await rawCall(
    s.socketPath,
    "DELETE /api/allowed HTTP/1.1\r\nHost: sidecar\r\nTransfer-Encoding: chunked\r\n" +
      `Connection: close\r\n\r\n${HIDDEN.length.toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
  );
  assert(answer.startsWith("HTTP/1.1 200"), answer);
  assertEquals(s.seen.map((r) => `${r.method} ${r.path} ${r.body}`), [
    `DELETE /allowed ${HIDDEN}`,
  ]);
});

for (const length of ["", "Content-Length: 0\r\n"]) {
  Deno.test(`a DELETE without a body (${length.trim() || "no length"}) goes upstream without one`, async () => {
    await using s = await setup();
    const answer = await rawCall(
      s.socketPath,
      `DELETE /api/allowed HTTP/1.1\r\nHost: sidecar\r\n${length}Connection: close\r\n\r\n`,
    );
    assert(answer.startsWith("HTTP/1.1 200"), answer);
    assertEquals(s.seen.map((r) => [r.method, r.path, r.body, r.te]), [
      ["DELETE", "/allowed", "", null],
    ]);
  });
}

Deno.test("an agent gone while the credential was fetched starts no upstream call, and is audited", async () => {
  await using dir = await tempDir();
  // An upstream that never answers: a call started for nobody would hold its socket for good.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const policy = oneServicePolicy(
    "slow",
    `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
  );
  const audit: AuditEntry[] = [];
  let fetched!: () => void;
  const fetching = new Promise<void>((r) => fetched = r);
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials: {
      async fetch() {
        fetched();
        await new Promise((r) => setTimeout(r, 300));
        return SECRET;
      },
    },
    audit: (e) => audit.push(e),
  });
  try {
    const conn = await Deno.connect({ transport: "unix", path: socketPath });
    await conn.write(new TextEncoder().encode("GET /slow/x HTTP/1.1\r\nHost: sidecar\r\n\r\n"));
    await fetching;
    conn.close();
    // The credential arrives 300 ms after the fetch began; give the sidecar time past that.
    for (let i = 0; i < 50 && audit.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(accepted.length, 0, "an upstream call was started for an agent that left");
    assertEquals(audit.map((e) => [e.service, e.decision]), [["slow", "error"]]);
  } finally {
    await sidecar.close();
    listener.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
  }
});

Deno.test("an upstream that answers 101 (switching protocols unasked) is a 502, not a request left hanging", async () => {
  await using dir = await tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted.push(conn);
      await conn.read(new Uint8Array(16_384));
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw",
        ),
      );
    }
  })();
  const policy = oneServicePolicy(
    "switch",
    `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
  );
  const audit: AuditEntry[] = [];
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  const sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials: { fetch: () => Promise.resolve(SECRET) },
    audit: (e) => audit.push(e),
  });
  try {
    const answer = await Promise.race([
      rawCall(socketPath, "GET /switch/x HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n"),
      new Promise<string>((r) => setTimeout(() => r("no answer in 5 s"), 5000)),
    ]);
    assert(answer.startsWith("HTTP/1.1 502"), answer);
    assert(answer.includes("upstream_failed"), answer);
    assertEquals(audit.map((e) => [e.service, e.decision]), [["switch", "error"]]);
  } finally {
    await sidecar.close();
    listener.close();
    await accepting.catch(() => {});
    for (const c of accepted) c.close();
  }
});
