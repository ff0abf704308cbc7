/**
 * The one `code → status` table (routes/errors.ts): every code a `lib/` component exports has a
 * row, every row is some component's code, each error class answers the status and code it did,
 * and anything unknown is a 500 `internal_error` that says nothing.
 */

import { Hono } from "hono";
import { assert, assertEquals } from "../support/assert.ts";
import { ERROR_ANSWERS, errorResponse } from "../../routes/errors.ts";
import { WORKER_ERROR_CODES, WorkerError } from "../../lib/worker/mod.ts";
import { InvalidName } from "../../lib/worker/_layout.ts";
import { SessionInvalid } from "../../lib/broker/mod.ts";
import {
  AdminClaimError,
  BROKER_ERROR_CODES,
  LoginError,
  MintError,
  OidcError,
} from "../../lib/broker/_errors.ts";
import { KeyringUnreadable } from "../../lib/broker/_keyring.ts";
import { PreconditionFailed, StoreCredentialsExpired } from "../../lib/store/mod.ts";
import { InvalidKey, STORE_ERROR_CODES, StoreUnavailable } from "../../lib/store/_errors.ts";
import { EpochStateError } from "../../lib/signer/mod.ts";
import {
  EpochTagCollision,
  KeystoreUnsealFailed,
  SIGNER_ERROR_CODES,
} from "../../lib/signer/_errors.ts";
import { EnvelopeAuthFailed, EnvelopeEpochDestroyed } from "../../lib/crypto/mod.ts";
import { ENVELOPE_ERROR_CODES } from "../../lib/crypto/_errors.ts";
import { CAP_ERROR_CODES, CapExpired } from "../../lib/cap/mod.ts";
import { CapClaimsInvalid } from "../../lib/cap/_claims.ts";
import { CapInvalid } from "../../lib/cap/_token.ts";
import { AnvilInstallError, AnvilStartError } from "../../lib/chain/_anvil.ts";
import {
  CHAIN_ERROR_CODES,
  ChainRevertError,
  ChainUnavailableError,
  NoGovernanceKeyError,
} from "../../lib/chain/_client.ts";
import { STATE_ERROR_CODES, StateBusy } from "../../lib/state/mod.ts";
import { StateContention } from "../../lib/state/_errors.ts";
import { RATELIMIT_ERROR_CODES, RateLimited } from "../../lib/ratelimit/mod.ts";
import { IDENTITY_ERROR_CODES } from "../../lib/identity/mod.ts";
import { InvalidIdentifierError } from "../../lib/identity/_errors.ts";
import { NoKeystore } from "../../lib/datadir/_files.ts";
import { ConfigError } from "../../lib/config/mod.ts";
import { REENCRYPT_ERROR_CODES } from "../../lib/reencrypt/mod.ts";
import { EPOCH_ERROR_CODES } from "../../lib/epochs/mod.ts";
import { KEYRING_ERROR_CODES } from "../../lib/keyrings/_errors.ts";

/** What each component exports as its codes, and startup errors that export no list. */
const EXPORTED: Record<string, readonly string[]> = {
  worker: WORKER_ERROR_CODES,
  broker: BROKER_ERROR_CODES,
  store: STORE_ERROR_CODES,
  signer: SIGNER_ERROR_CODES,
  crypto: ENVELOPE_ERROR_CODES,
  cap: CAP_ERROR_CODES,
  chain: CHAIN_ERROR_CODES,
  state: STATE_ERROR_CODES,
  ratelimit: RATELIMIT_ERROR_CODES,
  identity: IDENTITY_ERROR_CODES,
  reencrypt: REENCRYPT_ERROR_CODES,
  epochs: EPOCH_ERROR_CODES,
  keyrings: KEYRING_ERROR_CODES,
  datadir: [new NoKeystore("/x").code],
  config: [new ConfigError("x").code],
};

Deno.test("errors: every code a component exports has a row, and every row is a component's code", () => {
  const exported = new Set(Object.values(EXPORTED).flat());
  const missing = [...exported].filter((code) => !Object.hasOwn(ERROR_ANSWERS, code));
  assertEquals(missing, [], "codes without a status");
  const stale = Object.keys(ERROR_ANSWERS).filter((code) => !exported.has(code));
  assertEquals(stale, [], "rows no component exports");
  for (const code of exported) assert(/^[a-z]+(_[a-z]+)*$/.test(code), `${code} is snake_case`);
});

Deno.test("errors: the classes' codes are in their component's list", () => {
  const classes: [string, { code: string }][] = [
    ["worker", new InvalidName("x")],
    ["broker", new KeyringUnreadable("/x")],
    ["store", new InvalidKey("x")],
    ["store", new PreconditionFailed("x")],
    ["signer", new KeystoreUnsealFailed("/x")],
    ["crypto", new EnvelopeAuthFailed()],
    ["cap", new CapInvalid("x")],
    ["cap", new CapExpired()],
    ["cap", new CapClaimsInvalid("x")],
    ["chain", new ChainRevertError("E", [], "x")],
    ["chain", new NoGovernanceKeyError()],
    ["chain", new AnvilInstallError("x")],
    ["chain", new AnvilStartError("x")],
    ["state", new StateContention("x")],
    ["ratelimit", new RateLimited(1, "x")],
    ["identity", new InvalidIdentifierError("x")],
  ];
  for (const [component, err] of classes) {
    assert(EXPORTED[component].includes(err.code), `${err.code} is listed by ${component}`);
  }
});

/** Answers every request by throwing `err`; returns the response and what was logged. */
async function answer(err: unknown) {
  const app = new Hono();
  app.onError((e, c) => errorResponse(c, e));
  app.get("/", () => {
    throw err;
  });
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const res = await app.request("/");
    return { status: res.status, headers: res.headers, body: await res.json(), logged };
  } finally {
    console.error = original;
  }
}

Deno.test("errors: each class answers its status and code, with its message", async () => {
  const cases: [Error, number, string][] = [
    [new WorkerError("agent_active", "revoke first"), 409, "agent_active"],
    [new WorkerError("envelope_corrupt", "does not decrypt"), 500, "envelope_corrupt"],
    [new LoginError("challenge_used", "used"), 401, "challenge_used"],
    [new LoginError("device_revoked", "revoked"), 403, "device_revoked"],
    [new MintError("session_stale", "stale"), 401, "session_stale"],
    [new SessionInvalid("no_session", "none"), 401, "no_session"],
    [new AdminClaimError("claim_unavailable", "gone"), 410, "claim_unavailable"],
    [new AdminClaimError("admins_configured", "configured"), 409, "admins_configured"],
    [new OidcError("audience_not_allowed", "no"), 400, "audience_not_allowed"],
    [new EpochTagCollision(257, 1), 409, "epoch_tag_collision"],
    [new EpochStateError("not so"), 409, "epoch_state"],
    [new EnvelopeEpochDestroyed(3), 410, "epoch_destroyed"],
    [new CapExpired(), 401, "cap_expired"],
    [new InvalidName("bad name"), 400, "invalid_name"],
  ];
  for (const [err, status, code] of cases) {
    const r = await answer(err);
    assertEquals([r.status, r.body], [status, { error: code, message: err.message }], code);
    assertEquals(r.logged, [], `${code} is not a server fault`);
  }
});

Deno.test("errors: 429 rate_limited carries Retry-After in whole seconds", async () => {
  const r = await answer(new RateLimited(2.2, "too many logins"));
  assertEquals([r.status, r.body.error, r.headers.get("retry-after")], [429, "rate_limited", "3"]);
});

Deno.test("errors: 503 state_busy (the KV file stayed locked by another process) carries Retry-After", async () => {
  const r = await answer(new StateBusy("commit: the state store stayed locked by another process"));
  assertEquals(
    [r.status, r.body.error, r.headers.get("retry-after"), r.logged],
    [503, "state_busy", "2", []],
  );
});

Deno.test("errors: store and chain outages answer 503 with a fixed sentence, never the detail", async () => {
  const cases: [Error, string][] = [
    [new StoreUnavailable("fs store: get /srv/secret/blobs/k failed"), "store_unavailable"],
    [new StoreCredentialsExpired("ExpiredToken at http://rgw.internal:7480"), "store_unavailable"],
    [new ChainUnavailableError("http://10.0.0.5:8545 refused"), "chain_unavailable"],
  ];
  for (const [err, code] of cases) {
    const r = await answer(err);
    assertEquals([r.status, r.body.error], [503, code]);
    assert(!/secret|internal|10\.0\.0\.5/.test(r.body.message), r.body.message);
  }
});

Deno.test("errors: server faults and unknown errors are 500 internal_error without detail, logged", async () => {
  const faults: unknown[] = [
    new Error("boom at /etc/agentkeys/seal.key"),
    new TypeError("x is undefined"),
    Object.assign(new Error("ENOENT /data"), { code: "ENOENT" }),
    new KeystoreUnsealFailed("/data/signer/keystore.json"),
    new PreconditionFailed("bots/abc/credentials/x.enc"),
    new ChainRevertError("EpochNotPast", [], "reverted at 0xabc"),
    new StateContention("write ledger: KV commit refused"),
  ];
  for (const err of faults) {
    const r = await answer(err);
    assertEquals([r.status, r.body], [500, {
      error: "internal_error",
      message: "the server failed to handle this request",
    }]);
    assertEquals(r.logged.length, 1, "the detail goes to the log");
    assertEquals(r.logged[0][1], err);
  }
});
