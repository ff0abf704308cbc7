import { assertEquals } from "../support/assert.ts";
import { KvAuditLog } from "../../lib/state/mod.ts";

async function withLog(n: number, fn: (audit: KvAuditLog) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    const audit = new KvAuditLog(kv);
    for (let i = 1; i <= n; i++) await audit.append(i % 3 === 0 ? "three" : "other", { i });
    await fn(audit);
  } finally {
    kv.close();
  }
}

const seqs = (r: { entries: { seq: number }[] }) => r.entries.map((e) => e.seq);

Deno.test("audit page: newest first, paged by `before` to the start of the log", () =>
  withLog(7, async (audit) => {
    const first = await audit.page({ limit: 3 });
    assertEquals([seqs(first), first.next], [[7, 6, 5], 5]);
    const second = await audit.page({ limit: 3, before: first.next! });
    assertEquals([seqs(second), second.next], [[4, 3, 2], 2]);
    const third = await audit.page({ limit: 3, before: second.next! });
    assertEquals([seqs(third), third.next], [[1], null]);
  }));

Deno.test("audit page: a filter keeps only matching entries; an empty log has no next page", async () => {
  await withLog(10, async (audit) => {
    const page = await audit.page({ limit: 2, keep: (e) => e.kind === "three" });
    assertEquals([seqs(page), page.next], [[9, 6], 6]);
    const rest = await audit.page({ limit: 2, before: 6, keep: (e) => e.kind === "three" });
    assertEquals([seqs(rest), rest.next], [[3], null]);
  });
  await withLog(0, async (audit) => {
    assertEquals(await audit.page(), { entries: [], next: null });
  });
});

Deno.test("audit page: the scan bound stops a sparse filter and hands on where it stopped", () =>
  withLog(10, async (audit) => {
    const page = await audit.page({ limit: 5, scan: 4, keep: (e) => e.kind === "three" });
    // Looked at 10, 9, 8, 7 only: 9 kept, the walk continues below 7.
    assertEquals([seqs(page), page.next], [[9], 7]);
  }));
