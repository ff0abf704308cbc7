// The audit page's filter: blob writes (one entry per write since issue 11) are left out of the
// default view, shown with "all" or their own kind; unknown kinds are refused and ignored.
import { load } from "../../routes/pages/audit.tsx";
import type { PageDeps, Session } from "../../routes/pages/_deps.ts";
import type { AuditEntry } from "../../lib/state/mod.ts";
import { assertEquals } from "../support/assert.ts";

const entries: AuditEntry[] = ["epoch_rotated", "blob_written", "blob_deleted", "legacy_migrated"]
  .map((kind, i) => ({ seq: i + 1, at: new Date(0).toISOString(), kind, data: {} }) as AuditEntry);

const deps = {
  broker: { me: () => Promise.resolve({ is_admin: true }) },
  audit: {
    page: (o: { keep: (e: AuditEntry) => boolean }) =>
      Promise.resolve({ entries: entries.filter(o.keep).reverse(), next: null }),
  },
} as unknown as PageDeps;
const session = {
  address: "0x" + "aa".repeat(20),
  operatorOmni: "0x" + "bb".repeat(32),
} as Session;

const kinds = async (query: Record<string, string>) =>
  (await load(deps, session, query)).entries.map((e) => e.kind);

Deno.test("audit filter: blob writes out of the default view, in with all or their kind", async () => {
  assertEquals(await kinds({}), ["legacy_migrated", "epoch_rotated"]);
  assertEquals(await kinds({ kind: "all" }), [
    "legacy_migrated",
    "blob_deleted",
    "blob_written",
    "epoch_rotated",
  ]);
  assertEquals(await kinds({ kind: "blob_written" }), ["blob_written"]);
  const bad = await load(deps, session, { kind: "no_such_kind" });
  assertEquals(bad.invalid, ["kind"]);
  assertEquals(bad.entries.map((e) => e.kind), ["legacy_migrated", "epoch_rotated"]);
});
