/**
 * `deno task cli` exits 75 (EXIT.expired, as `deno task reencrypt`) when the service refuses the
 * saved session as over — expired, logged out or invalid — and tells the operator to log in
 * again; any other refusal, a 401 of a cap included, stays exit 1.
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { join } from "node:path";
import { EXIT, main as cli } from "../../lib/cli/mod.ts";
import { saveSession } from "../../lib/cli/_session_file.ts";
import { lineIO } from "../support/cli_io.ts";
import { tempDir } from "../support/tmp.ts";

/** A service whose every answer is `status` with `code`. */
function refusing(status: number, code: string) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({ error: code, message: `refused: ${code}` }, { status }),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function runAgainst(status: number, code: string, args: string[]) {
  await using dir = await tempDir();
  await using svc = refusing(status, code);
  const home = join(dir.path, "cli");
  await saveSession(home, {
    url: svc.url,
    session_jwt: "an.old.session",
    operator_omni: "0x" + "a1".repeat(32),
    address: "0x" + "1".repeat(40),
  });
  const io = lineIO();
  const exit = await cli(args, { url: svc.url, home }, io);
  return { exit, out: io.out.join("\n"), err: io.err.join("\n") };
}

Deno.test("cli: a session refused as expired, revoked or invalid exits 75 with 'log in again'", async () => {
  for (const code of ["session_expired", "session_revoked", "session_invalid"]) {
    for (const args of [["whoami"], ["cred", "put", "openai", "--value", "sk-1"], ["census"]]) {
      const r = await runAgainst(401, code, args);
      assertEquals(r.exit, EXIT.expired, `${args.join(" ")} on ${code}: ${r.err}`);
      assertEquals(r.exit, 75);
      assertMatch(r.err, new RegExp(`^agentkeys: ${code} \\(401\\): refused: ${code}\\n`));
      assertMatch(r.err, /log in again \(deno task cli login\)$/);
      assertEquals(r.out, "");
    }
  }
});

Deno.test("cli: other refusals, a 401 for a cap or a missing session included, exit 1", async () => {
  for (
    const [status, code] of [[401, "cap_expired"], [401, "no_session"], [403, "out_of_scope"], [
      500,
      "internal_error",
    ]] as const
  ) {
    const r = await runAgainst(status, code, ["whoami"]);
    assertEquals(r.exit, EXIT.failed, `${status} ${code}: ${r.err}`);
    assertMatch(r.err, new RegExp(`^agentkeys: ${code} \\(${status}\\)`));
    assert(!r.err.includes("log in again"), r.err);
  }
});
