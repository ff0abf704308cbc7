/**
 * `migrate-legacy` as a job of the service (issue 13): start with an operator session, follow
 * over SSE (blob, summary, end; Last-Event-ID replays), read every credential back; refusals.
 */

import { assert, assertEquals } from "../support/assert.ts";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { newAccount, testService } from "../support/broker_harness.ts";
import { credentialLocation } from "../../lib/worker/mod.ts";
import { legacyBlob } from "./legacy_writer.ts";
import { join } from "node:path";
import { migrateLegacyMain } from "../../lib/cli/mod.ts";
import { lineIO } from "../support/cli_io.ts";
import { tempDir } from "../support/tmp.ts";

async function setup() {
  // An admin: over HTTP only admins may map other legacy wallets to agents.
  const operator = newAccount();
  const s = await testService({ admins: [operator.address] });
  const device = newAccount();
  const agent = s.identity.register(operator.address, "mail-bot", device.address);
  const signerKey = generatePrivateKey();
  const signer = privateKeyToAccount(signerKey);
  const walletA = newAccount().address.toLowerCase();
  const plain = new Map<string, string>();
  for (
    const [wallet, actor, service, version] of [
      [operator.address.toLowerCase(), agent.operatorOmni, "openai", 1],
      [operator.address.toLowerCase(), agent.operatorOmni, "stripe", 2],
      [walletA, agent.actorOmni, "slack", 2],
      [walletA, agent.actorOmni, "github", 1],
    ] as const
  ) {
    const text = `${service} ${crypto.randomUUID()}`;
    const blob = await legacyBlob(signer, wallet, service, version, text);
    await s.store.put(blob.key, blob.bytes);
    plain.set(`${actor}/${service}`, text);
  }
  const op = await s.loginOperator(operator);
  const body = {
    operator: operator.address,
    legacy_signer_key: signerKey,
    map: { [walletA]: "mail-bot" },
  };
  return { s, operator, device, agent, op, body, plain };
}

async function sse(
  app: { request: (p: string, i: RequestInit) => Response | Promise<Response> },
  path: string,
  token: string,
  lastId?: number,
) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (lastId !== undefined) headers["last-event-id"] = String(lastId);
  const res = await app.request(path, { headers });
  assertEquals(res.status, 200);
  const text = await res.text();
  return text.split("\n\n").filter((b) => b.includes("event:")).map((b) => {
    const get = (f: string) =>
      b.split("\n").find((l) => l.startsWith(`${f}:`))!.slice(f.length + 1).trim();
    return { id: Number(get("id")), event: get("event"), data: JSON.parse(get("data")) };
  });
}

Deno.test("migrate job: start, follow over SSE to the end, every credential readable; Last-Event-ID replays the rest", async () => {
  const { s, op, body, plain } = await setup();
  await using _ = s;
  const started = await s.call("POST", "/v1/migrate/jobs", op, body);
  assertEquals(started.status, 201, JSON.stringify(started.body));
  const id = started.body.job_id as string;
  assert(!JSON.stringify(started.body).includes(body.legacy_signer_key.slice(2)), "no key echoed");
  const events = await sse(s.app, `/v1/migrate/jobs/${id}/events`, op);
  const blobs = events.filter((e) => e.event === "blob");
  assertEquals(blobs.filter((e) => e.data.outcome === "migrated").length, 4);
  assertEquals(events.at(-2)!.event, "summary");
  assertEquals(events.at(-2)!.data.migrated, 4);
  assertEquals(events.at(-1)!.event, "end");
  assertEquals(events.map((e) => e.id), events.map((_, i) => i + 1));
  const replay = await sse(s.app, `/v1/migrate/jobs/${id}/events`, op, 3);
  assertEquals(replay.map((e) => e.id), events.slice(3).map((e) => e.id));
  // A reconnect after `end` (EventSource does so by itself), or past it, ends at once: the stream
  // stayed open forever, holding one of the session's few stream slots.
  for (const last of [events.at(-1)!.id, events.at(-1)!.id + 100]) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const after = await Promise.race([
      sse(s.app, `/v1/migrate/jobs/${id}/events`, op, last),
      new Promise<"hung">((r) => timer = setTimeout(() => r("hung"), 3000)),
    ]);
    clearTimeout(timer);
    assertEquals(after, [], `Last-Event-ID ${last}`);
  }
  const job = await s.call("GET", `/v1/migrate/jobs/${id}`, op);
  assertEquals([job.body.state, (job.body.summary as { migrated: number }).migrated], [
    "succeeded",
    4,
  ]);
  const list = await s.call("GET", "/v1/migrate/jobs", op);
  assertEquals((list.body.jobs as { job_id: string }[]).map((j) => j.job_id), [id]);
  for (const [key, text] of plain) {
    const [actor, service] = key.split("/");
    const r = await s.worker.readAsService(credentialLocation(actor.slice(2), service));
    assertEquals(new TextDecoder().decode(r.plaintext), text, key);
  }
});

Deno.test("migrate job refusals: agent session, another wallet, bad key, unknown label, other operator's job, unknown job", async () => {
  const { s, op, body, device } = await setup();
  await using _ = s;
  const agentSession = await s.loginDevice(device);
  const asAgent = await s.call("POST", "/v1/migrate/jobs", agentSession, body);
  assertEquals([asAgent.status, asAgent.body.error], [403, "operator_only"]);
  const stranger = newAccount();
  const other = await s.call("POST", "/v1/migrate/jobs", op, {
    ...body,
    operator: stranger.address,
  });
  assertEquals([other.status, other.body.error], [403, "other_operator"]);
  for (
    const bad of [
      { legacy_signer_key: "0x12" },
      // 64 hex but no secp256k1 key (0, above the curve order): was a 500 with the key logged.
      { legacy_signer_key: `0x${"00".repeat(32)}` },
      { legacy_signer_key: `0x${"ff".repeat(32)}` },
      { map: [] },
      { dry_run: "yes" },
      { operator: 7 },
    ]
  ) {
    const r = await s.call("POST", "/v1/migrate/jobs", op, { ...body, ...bad });
    assertEquals([r.status, r.body.error], [400, "bad_request"], JSON.stringify(bad));
  }
  const both = await s.call("POST", "/v1/migrate/jobs", op, {
    ...body,
    dry_run: true,
    delete_legacy: true,
  });
  assertEquals(both.status, 400);
  const unknown = await s.call("POST", "/v1/migrate/jobs", op, {
    ...body,
    map: { [newAccount().address]: "no-such-agent" },
  });
  assertEquals([unknown.status, unknown.body.error], [400, "invalid_params"]);
  const noSession = await s.call("POST", "/v1/migrate/jobs", undefined, body);
  assertEquals(noSession.status, 401);
  // Review: a non-admin operator mapped another operator's wallet to its own agent and the job
  // listed that operator's current credentials. Without admin, no map at all.
  const plain = newAccount();
  s.identity.register(plain.address, "own-bot", newAccount().address);
  const plainSession = await s.loginOperator(plain);
  const mapping = await s.call("POST", "/v1/migrate/jobs", plainSession, {
    ...body,
    operator: plain.address,
    map: { [newAccount().address]: "own-bot" },
  });
  assertEquals([mapping.status, mapping.body.error], [403, "admin_only"]);
  const ownOnly = await s.call("POST", "/v1/migrate/jobs", plainSession, {
    ...body,
    operator: plain.address,
    map: {},
    dry_run: true,
  });
  assertEquals(ownOnly.status, 201);

  const started = await s.call("POST", "/v1/migrate/jobs", op, { ...body, dry_run: true });
  assertEquals(started.status, 201);
  const strangerSession = await s.loginOperator(stranger);
  const peek = await s.call("GET", `/v1/migrate/jobs/${started.body.job_id}`, strangerSession);
  assertEquals([peek.status, peek.body.error], [403, "other_operator"]);
  const missing = await s.call("GET", `/v1/migrate/jobs/${crypto.randomUUID()}`, op);
  assertEquals([missing.status, missing.body.error], [404, "not_found"]);
});

Deno.test("deno task migrate-legacy --url: starts the job on the service and prints its events", async () => {
  const { s, op, body, plain } = await setup();
  await using _ = s;
  await using tmp = await tempDir();
  const keyFile = join(tmp.path, "legacy.key");
  await Deno.writeTextFile(keyFile, body.legacy_signer_key, { mode: 0o600 });
  const [wallet, label] = Object.entries(body.map)[0];
  const io = lineIO();
  const code = await migrateLegacyMain([
    "--url",
    "http://localhost",
    "--operator",
    body.operator,
    "--legacy-signer-key",
    keyFile,
    "--map",
    `${wallet}=${label}`,
  ], {
    env: { AGENTKEYS_SESSION: op, HOME: tmp.path },
    stdout: io.stdout,
    stderr: io.stderr,
    fetch: (input, init) => Promise.resolve(s.app.request(String(input), init)),
    openHeadless: () => Promise.reject(new Error("no in-process run with --url")),
  });
  assertEquals(code, 0, io.err.join("\n"));
  assertEquals(io.out.filter((l) => l.startsWith("migrated ")).length, plain.size);
  assert(io.out.at(-1)!.startsWith(`summary: ${plain.size} migrated`), io.out.at(-1));
  const again = lineIO();
  const noSession = await migrateLegacyMain(
    ["--url", "http://localhost", "--operator", body.operator, "--legacy-signer-key", keyFile],
    {
      env: { HOME: tmp.path },
      stdout: again.stdout,
      stderr: again.stderr,
      openHeadless: () => Promise.reject(new Error("unused")),
    },
  );
  assertEquals(noSession, 2);
  // Plain http to another host: refused before anything (key, session) is sent.
  const clear = lineIO();
  let sent = 0;
  const refused = await migrateLegacyMain(
    ["--url", "http://vault.lan:8787", "--operator", body.operator, "--legacy-signer-key", keyFile],
    {
      env: { HOME: tmp.path, AGENTKEYS_SESSION: "x.y.z" },
      stdout: clear.stdout,
      stderr: clear.stderr,
      fetch: () => (sent++, Promise.reject(new Error("nothing may be sent"))),
      openHeadless: () => Promise.reject(new Error("unused")),
    },
  );
  assertEquals([refused, sent], [2, 0]);
  assert(clear.err.join("\n").includes("in clear"), clear.err.join("\n"));
});
