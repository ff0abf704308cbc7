/**
 * The console overview shows vault integrity's trouble: a write block after a detected state
 * store rollback (everyone), and failing anchors (admins), rendered without a browser.
 *
 * @module
 */

import { renderToString } from "preact-render-to-string";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import OverviewPage, { overviewModel } from "../../routes/pages/index.tsx";
import type { AnchorStatus } from "../../lib/integrity/mod.ts";

const BASE = {
  active: 1,
  epochs: [],
  latestGlobal: null,
  latestOperator: null,
  pending: [],
  jobs: [],
};
const OK: AnchorStatus = {
  enabled: true,
  anchored_seq: 10,
  anchored_at: "2026-01-01T00:00:00.000Z",
  tx_hash: "0xab",
  pending_writes: 0,
  last_error: null,
  failures: 0,
  next_attempt_at: null,
  blocked: null,
};

Deno.test("overview: integrity warnings — blocked writes for everyone, failing anchors for admins", () => {
  const admin = { address: "0xa", isAdmin: true };
  const operator = { address: "0xb", isAdmin: false };
  assertEquals(overviewModel({ viewer: admin, ...BASE, integrity: OK }).warnings, []);
  const failing = {
    ...OK,
    last_error: "chain unavailable",
    failures: 3,
    pending_writes: 42,
    next_attempt_at: "2026-01-01T00:00:04.000Z",
  };
  const a = overviewModel({ viewer: admin, ...BASE, integrity: failing });
  assertEquals(a.warnings.map((w) => w.kind), ["anchor_failed"]);
  assertMatch(a.warnings[0].text, /failed 3 times \(chain unavailable\); 42 change\(s\) wait/);
  assertEquals(overviewModel({ viewer: operator, ...BASE, integrity: failing }).warnings, []);
  const blocked = {
    ...OK,
    blocked: "the state store holds 1 pointer changes but the chain anchored 2",
  };
  const o = overviewModel({ viewer: operator, ...BASE, integrity: blocked });
  assertEquals(o.warnings.map((w) => w.kind), ["integrity_blocked"]);
  const html = renderToString(OverviewPage(o));
  assertMatch(html, /Blob writes are refused: the state store holds 1 pointer changes/);
  assert(html.includes("deno task signer integrity-ack"));
});
