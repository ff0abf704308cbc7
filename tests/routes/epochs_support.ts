/**
 * Shared pieces of the epoch and job route tests: an in-process service with the epoch routes,
 * a store that can be slowed down, two operators (one claimed admin) and an agent,
 * a fake chain counter, credential writes over HTTP, and an incremental event-stream reader.
 *
 * @module
 */

import type { PrivateKeyAccount } from "viem/accounts";
import type { EpochRecorder } from "../../lib/epochs/mod.ts";
import { type SseMessage, SseParser } from "../../lib/client/_sse.ts";
import { operatorOmniOf } from "../../lib/identity/mod.ts";
import { newAccount, type TestService, testService } from "../support/broker_harness.ts";
import { FaultyStore } from "../support/faulty_store.ts";
import { b64 } from "../support/harness.ts";

/** A fake K3EpochCounter: `fail` makes the next calls throw. */
export function fakeRecorder(start = 1) {
  const state = {
    epoch: start,
    destroyed: [] as number[],
    fail: false,
    /** Per advanceEpoch call, in order: ms before the counter moves (a slow transaction). */
    delays: [] as number[],
  };
  const recorder: EpochRecorder = {
    async advanceEpoch() {
      const delay = state.delays.shift() ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (state.fail) throw new Error("rpc unreachable");
      return { epoch: ++state.epoch, txHash: `0xadv${state.epoch}` };
    },
    recordEpochDestroyed(epoch) {
      if (state.fail) return Promise.reject(new Error("rpc unreachable"));
      state.destroyed.push(epoch);
      return Promise.resolve({ txHash: `0xdes${epoch}` });
    },
    currentEpoch: () => Promise.resolve(state.epoch),
  };
  return { state, recorder };
}

export interface EpochWorld extends AsyncDisposable {
  s: TestService;
  /** The store under the service; set `faulty.faults.beforePut` to slow writes down. */
  faulty: FaultyStore;
  chain: ReturnType<typeof fakeRecorder>;
  admin: { account: PrivateKeyAccount; omni: string; token: string };
  operator: { account: PrivateKeyAccount; omni: string; token: string };
  agent: { omni: string; token: string };
}

/** The service, an admin (claimed with the install's token), a second operator with one agent. */
export async function epochWorld(
  options: { recorder?: EpochRecorder | null; keepAliveMs?: number } = {},
): Promise<EpochWorld> {
  let faulty!: FaultyStore;
  const chain = fakeRecorder(1);
  const s = await testService({
    wrapStore: (store) => (faulty = new FaultyStore(store)),
    epochs: {
      recorder: options.recorder === null ? undefined : options.recorder ?? chain.recorder,
      keepAliveMs: options.keepAliveMs,
      runner: { flushMs: 20 },
    },
  });
  const adminAccount = newAccount();
  const operatorAccount = newAccount();
  const device = newAccount();
  const registered = s.identity.register(operatorAccount.address, "mail-bot", device.address);
  s.identity.setScope(registered.operatorOmni, registered.actorOmni, ["openai", "github"]);
  const adminToken = await s.loginOperator(adminAccount);
  if (s.adminClaim.state !== "created") throw new Error("the test service made no claim token");
  const claimed = await s.call("POST", "/v1/auth/claim-admin", adminToken, {
    token: s.adminClaim.token,
  });
  if (claimed.status !== 200) throw new Error(`claim: ${JSON.stringify(claimed.body)}`);
  const operatorToken = await s.loginOperator(operatorAccount);
  const agentToken = await s.loginDevice(device);
  return {
    s,
    faulty,
    chain,
    admin: {
      account: adminAccount,
      omni: operatorOmniOf(adminAccount.address),
      token: adminToken,
    },
    operator: { account: operatorAccount, omni: registered.operatorOmni, token: operatorToken },
    agent: { omni: registered.actorOmni, token: agentToken },
    [Symbol.asyncDispose]: () => s[Symbol.asyncDispose](),
  };
}

/** Stores a credential for `actor` (default: the operator itself) through cap + worker. */
export async function storeCred(
  s: TestService,
  token: string,
  operatorOmni: string,
  service: string,
  value: string,
  actorOmni = operatorOmni,
): Promise<{ key: string; epoch: number }> {
  const cap = await s.call("POST", "/v1/cap/cred-store", token, {
    operator_omni: operatorOmni,
    actor_omni: actorOmni,
    service,
  });
  if (cap.status !== 200) throw new Error(`cap: ${JSON.stringify(cap.body)}`);
  const stored = await s.call("POST", "/v1/cred/store", cap.body.cap as string, {
    plaintext_b64: b64(value),
  });
  if (stored.status !== 200) throw new Error(`store: ${JSON.stringify(stored.body)}`);
  return { key: stored.body.key as string, epoch: stored.body.epoch as number };
}

/** Fetches a credential; returns status and body. */
export async function fetchCred(
  s: TestService,
  token: string,
  operatorOmni: string,
  service: string,
  actorOmni = operatorOmni,
) {
  const cap = await s.call("POST", "/v1/cap/cred-fetch", token, {
    operator_omni: operatorOmni,
    actor_omni: actorOmni,
    service,
  });
  if (cap.status !== 200) throw new Error(`cap: ${JSON.stringify(cap.body)}`);
  return await s.call("POST", "/v1/cred/fetch", cap.body.cap as string, {});
}

/** An open event stream read one event at a time. */
export interface EventReader {
  response: Response;
  /** The next event, or `null` once the stream ended. */
  next(): Promise<SseMessage | null>;
  /** Every remaining event until the stream ends. */
  rest(): Promise<SseMessage[]>;
  /** Disconnects. */
  close(): Promise<void>;
}

/** Opens `GET path` and reads it incrementally. */
export async function openEvents(
  s: TestService,
  path: string,
  headers: Record<string, string>,
): Promise<EventReader> {
  const response = await s.request(path, { headers });
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  const queue: SseMessage[] = [];
  let ended = false;
  const next = async (): Promise<SseMessage | null> => {
    while (queue.length === 0) {
      if (ended || !reader) return null;
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return null;
      }
      queue.push(...parser.push(value));
    }
    return queue.shift()!;
  };
  return {
    response,
    next,
    async rest() {
      const out: SseMessage[] = [];
      for (let m = await next(); m !== null; m = await next()) out.push(m);
      return out;
    },
    async close() {
      ended = true;
      await reader?.cancel().catch(() => {});
    },
  };
}
