/**
 * Keyring documents through the sidecar (issue 14, "an agent from its device key … sidecar"):
 * a real in-process service, agents registered on the fake chain, a ring created and changed by
 * the operator's wallet, and the sidecar on a real Unix socket with this test's Deno process as
 * the caller. The program never holds the device key or the member key; the sidecar derives the
 * member key once, follows rotations without a restart, and refuses a tampered or replayed
 * record, a ring the caller's policy lacks, and a ring the agent was removed from.
 */

import { join } from "node:path";
import type { PrivateKeyAccount } from "viem/accounts";
import { AgentKeysClient } from "../../lib/client/mod.ts";
import { KeyringMember, KeyringOperator } from "../../lib/keyrings/mod.ts";
import { MEMBER_KEY_MESSAGE } from "../../lib/keyrings/_hpke.ts";
import { parsePolicy, startSidecar } from "../../lib/sidecar/mod.ts";
import { ServiceCredentials } from "../../lib/sidecar/_credentials.ts";
import { type Policy, PolicyFile, PolicyInvalid } from "../../lib/sidecar/_policy.ts";
import type { AuditEntry } from "../../lib/sidecar/_server.ts";
import { parseTarget } from "../../lib/sidecar/_target.ts";
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import {
  newAccount,
  PUBLIC_URL,
  type TestService,
  testService,
} from "../support/broker_harness.ts";
import { tempDir } from "../support/tmp.ts";
import { call, DENO } from "./_support.ts";

const utf8 = new TextEncoder();

function policyWith(keyrings: string | undefined): Policy {
  return parsePolicy(`
[[caller]]
uid = ${Deno.uid()}
exe = "${DENO}"
services = []
${keyrings === undefined ? "" : `keyrings = ${keyrings}`}
`);
}

Deno.test("policy: keyrings is a list of ring names, none by default; a bad one is refused and the previous policy kept", async () => {
  assertEquals(policyWith(undefined).callers[0].keyrings, []);
  assertEquals(policyWith(`["team", "ops.notes"]`).callers[0].keyrings, ["team", "ops.notes"]);
  for (const bad of [`"team"`, `[1]`, `["Team"]`, `["a/b"]`, `["..x"]`, `true`]) {
    assertThrows(() => policyWith(bad), PolicyInvalid, "keyrings");
  }
  const client = parsePolicy(
    `[[client]]\nname = "box"\ntoken = "${"t".repeat(32)}"\nservices = []\nkeyrings = ["team"]\n`,
  );
  assertEquals(client.clients[0].keyrings, ["team"]);
  assertThrows(
    () =>
      parsePolicy(
        `[[client]]\nname = "box"\ntoken = "${"t".repeat(32)}"\nservices = []\nkeyrings = "team"\n`,
      ),
    PolicyInvalid,
  );

  await using dir = await tempDir();
  const path = join(dir.path, "policy.toml");
  const entry = (k: string) =>
    `[[caller]]\nuid = 1\nexe = "/bin/sh"\nservices = []\nkeyrings = ${k}\n`;
  await Deno.writeTextFile(path, entry(`["team"]`));
  const logs: string[] = [];
  const file = await PolicyFile.open(path, (l) => logs.push(l));
  await Deno.writeTextFile(path, entry(`[42, "x"]`));
  assertEquals(await file.refresh(), false);
  assertEquals(file.current.callers[0].keyrings, ["team"]);
  assert(logs.some((l) => /rejected.*keyrings/.test(l)), logs.join("\n"));
});

Deno.test("parseTarget: /v1/keyrings/<ring>/<name>, names by the service's rule", () => {
  assertEquals(parseTarget("/v1/keyrings/team/api-key"), {
    kind: "keyring",
    ring: "team",
    name: "api-key",
  });
  for (const bad of ["/v1/keyrings/Team/x", "/v1/keyrings/team/%41", "/v1/keyrings/team/a..b"]) {
    assertEquals(parseTarget(bad).kind, "bad", bad);
  }
  // Not the keyring route: one segment, or three.
  assertEquals(parseTarget("/v1/keyrings/team").kind, "proxy");
  assertEquals(parseTarget("/v1/keyrings/team/a/b").kind, "proxy");
});

interface Agent {
  device: PrivateKeyAccount;
  omni: string;
  hash: string;
  member: KeyringMember;
}

function client(s: TestService, token?: string): AgentKeysClient {
  return new AgentKeysClient(PUBLIC_URL, token, {
    fetch: async (input, init) => await s.app.fetch(new Request(input, init)),
  });
}

/** An agent registered on the fake chain that published its member key (`keyring publish`). */
async function agent(s: TestService, wallet: PrivateKeyAccount, label: string): Promise<Agent> {
  const device = newAccount();
  const reg = s.identity.register(wallet.address, label, device.address);
  const member = await KeyringMember.open(
    client(s, await s.loginDevice(device)),
    { operator_omni: reg.operatorOmni, actor_omni: reg.actorOmni },
    device,
  );
  await member.publishKey();
  return { device, omni: reg.actorOmni, hash: reg.deviceKeyHash, member };
}

Deno.test("sidecar keyrings: an allowed caller reads what a member wrote, across a rotation, until its agent is removed; the policy, a tampered or replayed record and the service down are refused", async () => {
  await using s = await testService();
  await using dir = await tempDir();
  const wallet = newAccount();
  const op = await KeyringOperator.forWallet(client(s, await s.loginOperator(wallet)), wallet);
  const a = await agent(s, wallet, "writer");
  const b = await agent(s, wallet, "sidecar-bot");
  const c = await agent(s, wallet, "leaver");
  await op.create("team");
  for (const m of [a, b, c]) await op.add("team", m.omni, { deviceKeyHash: m.hash });
  await a.member.put("team", "doc1", utf8.encode("the r0 secret"));
  // Ring "late": "old" at rotation 0, then A removed (rotation 1) and B added without history,
  // so B is a current member (the worker serves it) holding no key of rotation 0.
  await op.create("late");
  await op.add("late", a.omni, { deviceKeyHash: a.hash });
  await a.member.put("late", "old", utf8.encode("before b"));
  await op.removeMember("late", a.omni);
  await op.add("late", b.omni, { deviceKeyHash: b.hash });
  await op.put("late", "new", utf8.encode("after b"));

  // B's sidecar: its device key signs the member-key message once (counted), and a fetch wrapper
  // that can tamper with, replay or drop what the service answers.
  let memberKeySignatures = 0;
  const bDevice = {
    address: b.device.address,
    signMessage: (args: { message: string }) => {
      if (args.message === MEMBER_KEY_MESSAGE) memberKeySignatures++;
      return b.device.signMessage(args);
    },
  };
  const records: string[] = [];
  let serve: "real" | "tampered" | "first" | "down" = "real";
  let documentFetches = 0;
  const credentials = new ServiceCredentials(PUBLIC_URL, bDevice, async (input, init) => {
    if (serve === "down") throw new TypeError("connection refused");
    const req = new Request(input, init);
    const path = new URL(req.url).pathname;
    if (path === "/v1/keyring/get") documentFetches++;
    const res = await s.app.fetch(req);
    if (path !== "/v1/keyrings/team" || res.status !== 200) return res;
    const text = await res.text();
    records.push(text);
    if (serve === "tampered") {
      // A member the operator never signed for: the service adding itself.
      const body = JSON.parse(text);
      body.record.members.push({ ...body.record.members[0], actor_omni: "0x" + "ab".repeat(32) });
      return Response.json(body);
    }
    if (serve === "first") return new Response(records[0], res);
    return new Response(text, res);
  });
  let policy = policyWith(`["team", "ghost", "late"]`);
  const audit: AuditEntry[] = [];
  const socketPath = join(dir.path, "run", "agentkeys-proxy.sock");
  await using _sidecar = await startSidecar({
    socketPath,
    policy: () => policy,
    credentials,
    keyrings: credentials,
    audit: (e) => audit.push(e),
  });
  const read = async (path: string, method = "GET") => {
    const r = await call({ socketPath }, method, path);
    return { status: r.status, body: r.body, json: r.status === 200 ? null : JSON.parse(r.body) };
  };

  // An allowed caller reads the document a member wrote.
  const first = await read("/v1/keyrings/team/doc1");
  assertEquals([first.status, first.body], [200, "the r0 secret"]);
  const raw = await new Promise<string | undefined>((resolve, reject) => {
    // The content type, read once with the raw node:http answer.
    import("node:http").then(({ request }) => {
      const req = request({ socketPath, path: "/v1/keyrings/team/doc1" }, (res) => {
        res.resume();
        resolve(res.headers["content-type"]);
      });
      req.on("error", reject);
      req.end();
    });
  });
  assertEquals(raw, "application/octet-stream");

  // Unknown document and unknown ring: the service's 404s, passed through.
  const noDoc = await read("/v1/keyrings/team/nope");
  assertEquals(noDoc.status, 404, noDoc.body);
  const noRing = await read("/v1/keyrings/ghost/doc1");
  assertEquals([noRing.status, noRing.json.error], [404, "keyring_not_found"]);
  // Only GET.
  assertEquals((await read("/v1/keyrings/team/doc1", "POST")).status, 405);
  // A member without the key of a document's rotation: 403 from the sidecar's own check.
  assertEquals((await read("/v1/keyrings/late/new")).body, "after b");
  const old = await read("/v1/keyrings/late/old");
  assertEquals([old.status, old.json.error], [403, "not_a_member"], old.body);

  // A ring the caller's policy lacks: refused by the sidecar, the service never asked.
  const fetchesBefore = documentFetches;
  const notInPolicy = await read("/v1/keyrings/other/doc1");
  assertEquals([notInPolicy.status, notInPolicy.json.error], [403, "keyring_denied"]);
  policy = policyWith(undefined);
  const defaultNone = await read("/v1/keyrings/team/doc1");
  assertEquals([defaultNone.status, defaultNone.json.error], [403, "keyring_denied"]);
  assertEquals(documentFetches, fetchesBefore);
  policy = policyWith(`["team", "ghost", "late"]`);

  // --tcp: a [[client]] known by its token, with its own keyrings list.
  const token = "tok-" + "k".repeat(40);
  await using tcp = await startSidecar({
    tcp: { host: "127.0.0.1", port: 0 },
    policy: () =>
      parsePolicy(
        `[[client]]\nname = "box"\ntoken = "${token}"\nservices = []\nkeyrings = ["team"]\n`,
      ),
    credentials,
    keyrings: credentials,
    audit: () => {},
  });
  const viaTcp = await call({ port: tcp.port! }, "GET", "/v1/keyrings/team/doc1", {
    "x-agentkeys-token": token,
  });
  assertEquals([viaTcp.status, viaTcp.body], [200, "the r0 secret"]);
  const noToken = await call({ port: tcp.port! }, "GET", "/v1/keyrings/team/doc1");
  assertEquals([noToken.status, JSON.parse(noToken.body).error], [401, "client_denied"]);
  const otherRing = await call({ port: tcp.port! }, "GET", "/v1/keyrings/late/new", {
    authorization: `Bearer ${token}`,
  });
  assertEquals([otherRing.status, JSON.parse(otherRing.body).error], [403, "keyring_denied"]);

  // The operator removes C: rotation 1, doc2 under it. The running sidecar reads doc2 and, via
  // key_history, doc1 — no restart, nothing cached but the member key and the version seen.
  await op.removeMember("team", c.omni);
  await a.member.put("team", "doc2", utf8.encode("the r1 secret"));
  assertEquals((await read("/v1/keyrings/team/doc2")).body, "the r1 secret");
  assertEquals((await read("/v1/keyrings/team/doc1")).body, "the r0 secret");

  // A tampered record (a member the operator did not sign) and a replayed older one: 502.
  serve = "tampered";
  const tampered = await read("/v1/keyrings/team/doc2");
  assertEquals([tampered.status, tampered.json.error], [502, "record_invalid"], tampered.body);
  serve = "first";
  const replayed = await read("/v1/keyrings/team/doc1");
  assertEquals([replayed.status, replayed.json.error], [502, "record_rollback"], replayed.body);
  // The service unreachable: 503.
  serve = "down";
  const down = await read("/v1/keyrings/team/doc2");
  assertEquals([down.status, down.json.error], [503, "service_unavailable"]);
  serve = "real";

  // The operator removes B (the sidecar's agent): a document written afterwards is refused by
  // the worker, and so is every earlier one.
  await op.removeMember("team", b.omni);
  await a.member.put("team", "doc3", utf8.encode("the r2 secret"));
  for (const name of ["doc3", "doc1"]) {
    const r = await read(`/v1/keyrings/team/${name}`);
    assertEquals([r.status, r.json.error], [403, "not_a_member"], r.body);
  }

  // The member key was derived once for the daemon's life.
  assertEquals(memberKeySignatures, 1);
  // One audit line per request, naming the ring and document, never the plaintext.
  const reads = audit.filter((e) => e.keyring !== null);
  assertEquals(reads.length, audit.length);
  assertEquals(
    reads.map((e) => e.decision),
    [
      "keyring_read",
      "keyring_read",
      "not_found",
      "keyring_not_found",
      "method_not_allowed",
      "keyring_read",
      "not_a_member",
      "keyring_denied",
      "keyring_denied",
      "keyring_read",
      "keyring_read",
      "record_invalid",
      "record_rollback",
      "service_unavailable",
      "not_a_member",
      "not_a_member",
    ],
  );
  assertEquals(reads[0].keyring, "team/doc1");
  assertEquals(reads[0].service, null);
  assertEquals(reads[0].exe, DENO);
  const log = JSON.stringify(audit);
  assert(!/secret/.test(log), "the audit log holds a plaintext");
});
