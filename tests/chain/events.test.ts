// The chain event feed (lib/chain/_events.ts) and the chain client's background head against a
// real anvil: events arrive decoded and in block order; with `headPollMs` reads make no
// eth_blockNumber round trip of their own (the cached answer stands until the head moves), `sync()` makes a change written straight to the node
// visible at once, and a refusal is confirmed at the latest block (confirmRefusal).
import { ChainClient } from "../../lib/chain/mod.ts";
import type { IdentityEvent } from "../../lib/identity/mod.ts";
import * as actions from "../../lib/chain/actions/mod.ts";
import { confirmRefusal, serviceHash } from "../../lib/identity/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import {
  registerAgent,
  revokeAgent,
  setScope,
  startTestChain,
  type TestChain,
} from "../support/chain.ts";

/** A client of `chain` that takes its block from a background poll every `pollMs`. */
function headClient(chain: TestChain, pollMs: number): ChainClient {
  return new ChainClient({
    rpcUrl: chain.rpcUrl,
    chainId: chain.chainId,
    addresses: chain.addresses,
    headPollMs: pollMs,
  });
}

/** Polls `check` every 10 ms for up to `ms`; fails with `what`. */
async function eventually(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("event feed: registration, scope, revocation and rotation arrive decoded, in order", async () => {
  await using chain = await startTestChain();
  const client = headClient(chain, 20);
  try {
    const seen: IdentityEvent[] = [];
    const stop = client.onIdentityEvents((events) => seen.push(...events));
    await client.sync();
    const op = await chain.newWallet();
    const agent = await registerAgent(chain, op, "feed-bot");
    await setScope(chain, op, agent.actorOmni, ["openai"], false);
    await revokeAgent(chain, op, agent.deviceKeyHash);
    const { epoch } = await chain.client.advanceEpoch();
    await eventually(() => seen.length >= 4, "four events");
    assertEquals(seen.map((e) => e.type), [
      "agent_registered",
      "scope_set",
      "agent_revoked",
      "epoch_rotated",
    ]);
    const [registered, , revoked, rotated] = seen;
    assert(registered.type === "agent_registered" && revoked.type === "agent_revoked");
    assertEquals(registered.actorOmni, agent.actorOmni.toLowerCase());
    assertEquals(registered.operatorOmni, op.omni.toLowerCase());
    assertEquals(revoked.deviceKeyHash, agent.deviceKeyHash.toLowerCase());
    assert(rotated.type === "epoch_rotated");
    assertEquals(rotated.epoch, epoch);
    for (let i = 1; i < seen.length; i++) assert(seen[i].block >= seen[i - 1].block);
    // Unsubscribed: nothing more is delivered.
    stop();
    await chain.client.advanceEpoch();
    await client.sync();
    assertEquals(seen.length, 4);
  } finally {
    client.close();
  }
});

Deno.test("head-tracking client: reads reuse the polled block; sync sees a direct write at once", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "head-bot");
  // A long poll: within this test only sync() can move the head.
  const client = headClient(chain, 60_000);
  try {
    await client.sync();
    const device = await client.getDevice(agent.deviceKeyHash);
    assertEquals(device?.revoked, false);
    // Revoked straight at the node: the client's head is older, so the cached answer stands...
    await revokeAgent(chain, op, agent.deviceKeyHash);
    assertEquals((await client.getDevice(agent.deviceKeyHash))?.revoked, false);
    // ...until it syncs.
    await client.sync();
    assertEquals((await client.getDevice(agent.deviceKeyHash))?.revoked, true);
  } finally {
    client.close();
  }
});

Deno.test("confirmRefusal: a scope widened straight at the node is not refused on an old head", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "widen-bot");
  const client = headClient(chain, 60_000);
  try {
    await client.sync();
    const inScope = async () => {
      const s = await client.isServiceInScope(op.omni, agent.actorOmni, serviceHash("openai"));
      if (!s.allowed) throw new Error("out of scope");
      return s;
    };
    await inScope().then(() => assert(false, "not in scope yet"), () => {});
    await setScope(chain, op, agent.actorOmni, ["openai"], false);
    // On the old head the scope is still empty; confirmRefusal syncs and re-checks.
    assertEquals((await confirmRefusal(client, inScope)).allowed, true);
    // A refusal that holds at the latest block still stands.
    const never = () => Promise.reject(new Error("always refused"));
    const err = await confirmRefusal(client, never).then(() => undefined, (e) => e);
    assertEquals((err as Error).message, "always refused");
  } finally {
    client.close();
  }
});

Deno.test("head-tracking client: the background poll alone makes a direct revocation visible", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "poll-bot");
  const client = headClient(chain, 25);
  try {
    await client.sync();
    assertEquals((await client.getDevice(agent.deviceKeyHash))?.revoked, false);
    await revokeAgent(chain, op, agent.deviceKeyHash);
    // No sync: the background poll alone makes the revocation visible within a few polls.
    const started = Date.now();
    let revoked = false;
    while (!revoked && Date.now() - started < 2_000) {
      revoked = (await client.getDevice(agent.deviceKeyHash))?.revoked === true;
      if (!revoked) await new Promise((r) => setTimeout(r, 5));
    }
    assert(revoked, "the poll never picked up the revocation");
    assert(Date.now() - started < 500, `took ${Date.now() - started} ms`);
  } finally {
    client.close();
  }
});

Deno.test("syncAfter: a transaction's effect is visible once its hash is answered (the proxy's hook)", async () => {
  await using chain = await startTestChain();
  const op = await chain.newWallet();
  const agent = await registerAgent(chain, op, "after-bot");
  const client = headClient(chain, 60_000);
  try {
    await client.sync();
    // Sent, not waited for: what the proxy has when anvil answers the hash.
    const hash = await actions.setScope(op.wallet, {
      address: chain.addresses.ScopeRegistry,
      actorOmni: agent.actorOmni,
      serviceHashes: [serviceHash("openai")],
      readOnly: false,
    });
    await client.syncAfter(hash);
    const scope = await client.isServiceInScope(op.omni, agent.actorOmni, serviceHash("openai"));
    assertEquals(scope.allowed, true);
  } finally {
    client.close();
  }
});

Deno.test("confirmRefusal: when the chain cannot be synced the original refusal stands", async () => {
  let checks = 0;
  const refuse = () => {
    checks++;
    return Promise.reject(new Error("out of scope"));
  };
  const down = { sync: () => Promise.reject(new Error("chain unavailable")) };
  const err = await confirmRefusal(down, refuse).then(() => undefined, (e) => e);
  assertEquals([(err as Error).message, checks], ["out of scope", 1]);
  // A reader without sync (every read already asks the node) refuses at once.
  const plain = await confirmRefusal({}, refuse).then(() => undefined, (e) => e);
  assertEquals([(plain as Error).message, checks], ["out of scope", 2]);
});

Deno.test("syncAfter: a transaction that never gets mined ends the wait at the timeout", async () => {
  await using chain = await startTestChain();
  const client = headClient(chain, 60_000);
  try {
    const started = performance.now();
    await client.syncAfter(`0x${"cd".repeat(32)}`, 150);
    const took = performance.now() - started;
    assert(took >= 150 && took < 2_000, `waited ${took} ms`);
    // A pending transaction costs the node a handful of calls, not one every few ms (an outsider
    // can keep one pending with a future nonce through the proxy).
    const real = client.publicClient.getTransactionReceipt;
    let calls = 0;
    client.publicClient.getTransactionReceipt = (args) => {
      calls++;
      return real(args);
    };
    await client.syncAfter(`0x${"ce".repeat(32)}`, 2_000);
    assert(calls <= 16, `${calls} receipt calls in 2 s`);
  } finally {
    client.close();
  }
});
