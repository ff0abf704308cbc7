/**
 * `deno task cli login --claim-admin TOKEN` (in process, against the broker served on a free
 * port): signs in, then claims; a wrong token exits 1 with the API's code and makes nobody admin.
 */

import { assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { main as cli } from "../../lib/cli/mod.ts";
import { testService } from "../support/broker_harness.ts";
import { tempDir } from "../support/tmp.ts";
import { lineIO } from "../support/cli_io.ts";

Deno.test("CLI login --claim-admin: a wrong token exits 1; the right one makes the operator admin", async () => {
  await using dir = await tempDir();
  let fetcher: (req: Request) => Response | Promise<Response> = () =>
    new Response(null, { status: 503 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => fetcher(req),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    await using s = await testService({ publicUrl: url });
    if (s.adminClaim.state !== "created") throw new Error("no claim token");
    // The harness mounts no chain routes; the CLI only needs the chain id from them here.
    fetcher = (req) =>
      new URL(req.url).pathname === "/v1/chain"
        ? Response.json({ chain_id: 31337, contracts: {} })
        : s.app.fetch(req);
    const io = lineIO();
    const { out, err } = io;
    const env = { url, home: join(dir.path, "cli"), operatorKey: generatePrivateKey() };
    const whoami = async () => {
      out.length = 0;
      assertEquals(await cli(["whoami"], env, io), 0, err.join("\n"));
      return JSON.parse(out.join("\n"));
    };

    assertEquals(await cli(["login", "--claim-admin", "0".repeat(64)], env, io), 1);
    assertMatch(err.join("\n"), /claim_invalid/);
    assertEquals((await whoami()).is_admin, false, "logged in, not admin");

    assertEquals(await cli(["login", "--claim-admin", s.adminClaim.token], env, io), 0);
    assertMatch(out.join("\n"), /is now an admin of/);
    assertEquals((await whoami()).is_admin, true);
    assertEquals(await cli(["login", "--claim-admin"], env, io), 2, "the flag needs the token");
  } finally {
    await server.shutdown();
  }
});
