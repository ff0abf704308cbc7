/**
 * The three command lines share one strict parser: `--help`/`-h` on every command and subcommand
 * prints that command's usage and exits 0; an unknown flag, a flag another command takes, or a
 * flag without its value exits 2 with the usage.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { EXIT, main as cli, reencryptMain, signerMain } from "../../lib/cli/mod.ts";
import { capture, makeDataDir } from "../reencrypt/datadir.ts";
import { lineIO } from "../support/cli_io.ts";

function operator(args: string[]) {
  const io = lineIO();
  // No service listens here: a command that got past parsing would fail with 1, not 0 or 2.
  const env = { url: "http://127.0.0.1:9", home: "/nonexistent/agentkeys-help-test" };
  return cli(args, env, io).then((code) => ({
    code,
    out: io.out.join("\n"),
    err: io.err.join("\n"),
  }));
}

const OPERATOR_COMMANDS = [
  ["login"],
  ["whoami"],
  ["agent", "add"],
  ["agent", "revoke"],
  ["scope", "set"],
  ["cred", "put"],
  ["cred", "get"],
  ["cred", "rm"],
  ["census"],
];

Deno.test("cli: --help and -h print the usage and exit 0, for every command and subcommand", async () => {
  for (const flag of ["--help", "-h"]) {
    const top = await operator([flag]);
    assertEquals(top.code, EXIT.ok, top.err);
    assertMatch(top.out, /^usage: deno task cli <command>/);
    assertEquals(top.err, "");
    for (const command of OPERATOR_COMMANDS) {
      const r = await operator([...command, flag]);
      assertEquals(r.code, EXIT.ok, `${command.join(" ")} ${flag}: ${r.err}`);
      assert(
        r.out.startsWith(`usage: deno task cli ${command.join(" ")}`),
        `${command.join(" ")} ${flag}: ${r.out}`,
      );
      assertEquals(r.err, "");
    }
  }
  // A group alone lists its subcommands; --help wins over a flag that would be a mistake.
  const group = await operator(["agent", "--help"]);
  assertEquals(group.code, EXIT.ok);
  assertMatch(group.out, /agent add <label>/);
  assertMatch(group.out, /agent revoke <label>/);
  assertEquals((await operator(["cred", "get", "--bogus", "--help"])).code, EXIT.ok);
});

Deno.test("cli: unknown flags, flags of another command and missing values exit 2 with the usage", async () => {
  const unknown = await operator(["cred", "get", "openai", "--bogus"]);
  assertEquals(unknown.code, EXIT.usage);
  assertMatch(unknown.err, /unknown flag --bogus\nusage: deno task cli cred get/);
  const other = await operator(["agent", "add", "bot", "--value", "x"]);
  assertEquals(other.code, EXIT.usage);
  assertMatch(other.err, /agent add takes no --value/);
  const missing = await operator(["login", "--key-file"]);
  assertEquals(missing.code, EXIT.usage);
  assertMatch(missing.err, /--key-file needs a value\nusage: deno task cli login/);
  const none = await operator([]);
  assertEquals(none.code, EXIT.usage);
  assertMatch(none.err, /no command given\nusage: deno task cli <command>/);
  const bad = await operator(["frobnicate"]);
  assertEquals(bad.code, EXIT.usage);
  assertMatch(bad.err, /unknown command: frobnicate/);
});

Deno.test("cli: --url with plain http to another host exits 2 before anything is sent; loopback passes", async () => {
  const clear = await operator(["whoami", "--url", "http://vault.lan:8787"]);
  assertEquals(clear.code, EXIT.usage);
  assertMatch(clear.err, /in clear/);
  // Loopback passes the check and gets as far as the session (none here).
  const loopback = await operator(["whoami", "--url", "http://127.0.0.1:9"]);
  assertMatch(loopback.err, /not logged in/);
  assert(!loopback.err.includes("in clear"), loopback.err);
});

Deno.test("cli: cred/inbox verify refuse a --vault-anchor that is no address and an --rpc-url over plain http to another host (exit 2, before the session)", async () => {
  for (const verb of [["cred", "verify", "openai"], ["inbox", "verify", "m1"]]) {
    const bad = await operator([...verb, "--vault-anchor", "0x1234"]);
    assertEquals(bad.code, EXIT.usage);
    assertMatch(bad.err, /--vault-anchor must be a 0x address/);
    const clear = await operator([...verb, "--rpc-url", "http://rpc.example:8545"]);
    assertEquals(clear.code, EXIT.usage);
    assertMatch(clear.err, /anyone on the way could answer for the chain/);
    // A loopback node and a well-formed address pass and get as far as the session (none here).
    const fine = await operator([
      ...verb,
      "--rpc-url",
      "http://127.0.0.1:8545",
      "--vault-anchor",
      "0x" + "ab".repeat(20),
    ]);
    assertMatch(fine.err, /not logged in/);
  }
});

Deno.test("reencrypt cli: --help and -h exit 0; an unknown flag exits 2", async () => {
  for (const flag of ["--help", "-h"]) {
    const io = capture();
    assertEquals(await reencryptMain([flag], { env: {}, ...io }), EXIT.ok);
    assertMatch(io.out, /^usage: deno task reencrypt --operator-omni/);
    assert(io.out.endsWith("\n"));
    assertEquals(io.err, "");
  }
  const io = capture();
  assertEquals(await reencryptMain(["--bogus"], { env: {}, ...io }), EXIT.usage);
  assertMatch(io.err, /^reencrypt: unknown flag --bogus\nusage: deno task reencrypt/);
  const missing = capture();
  assertEquals(await reencryptMain(["--old-epoch"], { env: {}, ...missing }), EXIT.usage);
  assertMatch(missing.err, /--old-epoch needs a value/);
});

const SIGNER_COMMANDS = [
  "epochs",
  "rotate",
  "census",
  "drop-old-k3",
  "reconcile",
  "audit-verify",
  "reseal",
];

Deno.test("signer cli: --help and -h print each command's usage and exit 0; unknown flags exit 2", async () => {
  for (const flag of ["--help", "-h"]) {
    const top = capture();
    assertEquals(await signerMain([flag], { env: {}, ...top }), EXIT.ok);
    assertMatch(top.out, /^usage: deno task signer <command>/);
    for (const command of SIGNER_COMMANDS) {
      const io = capture();
      // No data directory is opened: help never touches the keystore.
      assertEquals(await signerMain([command, flag], { env: {}, ...io }), EXIT.ok, io.err);
      assert(io.out.startsWith(`usage: deno task signer ${command}`), io.out);
      assert(io.out.endsWith("\n"));
      assertEquals(io.err, "");
    }
  }
  const io = capture();
  assertEquals(await signerMain(["rotate", "--bogus"], { env: {}, ...io }), EXIT.usage);
  assertMatch(io.err, /^signer: unknown flag --bogus\nusage: deno task signer/);
});

Deno.test("signer cli: every line of `epochs` ends with a newline", async () => {
  await using data = await makeDataDir(1);
  const io = capture();
  assertEquals(await signerMain(["epochs"], { env: data.env, ...io }), EXIT.ok, io.err);
  assertMatch(
    io.out,
    /^epoch 1 retiring created .*\nepoch 2 active created .*\ncensus: none taken yet\n$/,
  );
});
