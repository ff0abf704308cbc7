import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { reencryptMain, signerMain } from "../../lib/cli/mod.ts";
import type { SignerCliDeps } from "../../lib/cli/_signer.ts";
import type { EpochRecorder } from "../../lib/epochs/mod.ts";
import { type AuditEntry, KvAuditLog } from "../../lib/state/mod.ts";
import { OPERATOR } from "../reencrypt/fixture.ts";
import { capture, type DataDir, makeDataDir } from "../reencrypt/datadir.ts";

async function signer(data: DataDir, args: string[], extra: Partial<SignerCliDeps> = {}) {
  const io = capture();
  const code = await signerMain(args, { env: data.env, ...io, ...extra });
  return { code, out: io.out, err: io.err };
}

async function auditKinds(data: DataDir): Promise<AuditEntry[]> {
  const h = await data.open();
  try {
    const out: AuditEntry[] = [];
    for await (const e of new KvAuditLog(h.state.kv).entries()) out.push(e);
    return out;
  } finally {
    await h.close();
  }
}

/** A fake chain counter: `fail` makes the next calls throw. */
function fakeRecorder(start: number) {
  const state = { epoch: start, destroyed: [] as number[], fail: false, calls: 0 };
  const recorder: EpochRecorder = {
    advanceEpoch() {
      state.calls++;
      if (state.fail) return Promise.reject(new Error("rpc unreachable"));
      return Promise.resolve({ epoch: ++state.epoch, txHash: `0xadv${state.epoch}` });
    },
    recordEpochDestroyed(epoch) {
      state.calls++;
      if (state.fail) return Promise.reject(new Error("rpc unreachable"));
      state.destroyed.push(epoch);
      return Promise.resolve({ txHash: `0xdes${epoch}` });
    },
    currentEpoch: () => Promise.resolve(state.epoch),
  };
  return { state, recorder };
}

Deno.test("signer cli: usage errors exit 2", async () => {
  await using data = await makeDataDir(1);
  for (
    const args of [
      [],
      ["frobnicate"],
      ["drop-old-k3"],
      ["drop-old-k3", "--epoch", "x"],
      ["rotate", "--force"],
      ["rotate", "extra"],
    ]
  ) {
    const r = await signer(data, args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assertMatch(r.err, /usage: deno task signer/);
  }
  const active = await signer(data, ["drop-old-k3", "--epoch", "2"]);
  assertEquals(active.code, 2);
  assertMatch(
    active.err,
    /epoch 2 is active; only a retiring epoch can be destroyed \(rotate first\)/,
  );
});

Deno.test("signer cli: rotate without a chain recorder says so and leaves a pending record", async () => {
  await using data = await makeDataDir(1);
  const r = await signer(data, ["rotate"]);
  assertEquals(r.code, 0, r.err);
  assertMatch(r.out, /epoch 3 is active; epoch 2 is retiring/);
  assertMatch(r.out, /NOT recorded on chain/);
  const epochs = await signer(data, ["epochs"]);
  assertMatch(epochs.out, /epoch 3 active/);
  assertMatch(epochs.out, /pending chain record: advance_epoch epoch 3 \(no_recorder/);
  const audit = await auditKinds(data);
  assertEquals(audit.at(-1)?.kind, "epoch_rotated");
  assertEquals(audit.at(-1)?.data.chain, "not_recorded");
  // Once a recorder exists, reconcile catches the counter up without advancing twice.
  const chain = fakeRecorder(2);
  const rec = await signer(data, ["reconcile"], { recorder: chain.recorder });
  assertEquals(rec.code, 0, rec.err);
  assertEquals(chain.state.epoch, 3);
  assertEquals(
    (await signer(data, ["reconcile"], { recorder: chain.recorder })).out.trim(),
    "nothing pending: the chain has every local epoch change",
  );
  assertEquals(chain.state.epoch, 3);
});

Deno.test("signer cli: rotate records on chain; a failed recorder is reported and reconcilable", async () => {
  await using data = await makeDataDir(1);
  const chain = fakeRecorder(2);
  const ok = await signer(data, ["rotate"], { recorder: chain.recorder });
  assertEquals(ok.code, 0, ok.err);
  assertMatch(ok.out, /recorded on chain: advanceEpoch tx 0xadv3/);
  chain.state.fail = true;
  const failed = await signer(data, ["rotate"], { recorder: chain.recorder });
  assertEquals(failed.code, 1);
  assertMatch(failed.out, /epoch 4 is active/);
  assertMatch(failed.err, /rotated to epoch 4, but recording it on chain FAILED: rpc unreachable/);
  const h = await data.open();
  try {
    assertEquals(h.keystore.activeEpoch, 4, "the keystore change stands");
  } finally {
    await h.close();
  }
  chain.state.fail = false;
  const rec = await signer(data, ["reconcile"], { recorder: chain.recorder });
  assertEquals(rec.code, 0, rec.err);
  assertEquals(chain.state.epoch, 4);
  // A counter that moved on its own is a mismatch, recorded and reported.
  chain.state.epoch = 10;
  const mismatch = await signer(data, ["rotate"], { recorder: chain.recorder });
  assertEquals(mismatch.code, 1);
  assertMatch(
    mismatch.err,
    /MISMATCH: the keystore activated epoch 5 but the chain counter is now 11/,
  );
});

Deno.test("signer cli: drop-old-k3 refuses with counts, passes after re-encryption", async () => {
  await using data = await makeDataDir(9);
  const refused = await signer(data, ["drop-old-k3", "--epoch", "1"]);
  assertEquals(refused.code, 1);
  assertMatch(refused.err, /refused: epoch 1 still holds 9 blob\(s\)/);
  assertMatch(refused.err, /counts: \{"1":9\}/);
  const run = capture();
  assertEquals(
    await reencryptMain(["--operator-omni", OPERATOR, "--old-epoch", "1", "--new-epoch", "2"], {
      env: data.env,
      ...run,
    }),
    0,
  );
  const chain = fakeRecorder(2);
  const dropped = await signer(data, ["drop-old-k3", "--epoch", "1"], { recorder: chain.recorder });
  assertEquals(dropped.code, 0, dropped.err);
  assertMatch(dropped.out, /census .*: epoch 2: 9/);
  assertMatch(
    dropped.out,
    /epoch 1 destroyed at .*\nrecorded on chain: recordEpochDestroyed tx 0xdes1/,
  );
  assertEquals(chain.state.destroyed, [1]);
  await data.verify(2);
  const kinds = (await auditKinds(data)).map((e) => e.kind);
  assert(kinds.includes("epoch_destroy_refused"));
  assertEquals(kinds.slice(-2), ["epoch_destroyed", "epoch_destroyed_recorded"]);
  const again = await signer(data, ["drop-old-k3", "--epoch", "1"]);
  assertEquals(again.code, 1);
  assertMatch(again.err, /epoch 1 is destroyed/);
});

Deno.test("signer cli: --force destroys without the guard, loudly, and audits it first", async () => {
  await using data = await makeDataDir(4);
  const forced = await signer(data, ["drop-old-k3", "--epoch", "1", "--force"]);
  assertEquals(forced.code, 0, forced.err);
  assertMatch(forced.err, /WARNING: --force destroys epoch 1 WITHOUT the census check/);
  assertMatch(forced.out, /epoch 1 destroyed at .* \(FORCED\)\nNOT recorded on chain/);
  const audit = await auditKinds(data);
  const kinds = audit.map((e) => e.kind);
  assertEquals(kinds.slice(-2), ["epoch_destroy_forced", "epoch_destroyed"]);
  assertEquals(audit.at(-1)?.data.forced, true);
  const census = await signer(data, ["census"]);
  assertMatch(census.out, /destroyed: 4/);
});

Deno.test("signer cli: audit-verify passes, and fails on a tampered entry", async () => {
  await using data = await makeDataDir(1);
  await signer(data, ["rotate"]);
  await signer(data, ["census"]);
  const ok = await signer(data, ["audit-verify"]);
  assertEquals(ok.code, 0, ok.err);
  // The blob's blob_written (lib/integrity), then the rotation.
  assertMatch(ok.out, /audit log ok: 2 entries/);
  const h = await data.open();
  try {
    const key = ["audit", "entry", 1];
    const entry = (await h.state.kv.get<AuditEntry>(key)).value!;
    await h.state.kv.set(key, { ...entry, data: { ...entry.data, active: 99 } });
  } finally {
    await h.close();
  }
  const broken = await signer(data, ["audit-verify"]);
  assertEquals(broken.code, 1);
  assertMatch(broken.err, /audit log BROKEN at entry 1/);
});
