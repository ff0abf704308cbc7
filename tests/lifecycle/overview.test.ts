/**
 * The console overview's lifecycle card and window warning, rendered from a scheduler status
 * (the real one, read after a deferred destroy) without a browser.
 *
 * @module
 */

import { renderToString } from "preact-render-to-string";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import OverviewPage, { formatDuration, overviewModel } from "../../routes/pages/index.tsx";
import { credentialLocation, memoryLocation } from "../../lib/worker/mod.ts";
import { DAY, HOUR, lifecycleEnv } from "./_env.ts";

const A = "b2".repeat(32);

Deno.test("overview: next rotation, running step, last destruction, why a destroy was deferred, the window", async () => {
  await using env = await lifecycleEnv();
  const s = env.scheduler;
  await env.write(credentialLocation(A, "github"), "x");
  env.clock.advance(7 * DAY);
  await s.tick(); // rotate
  env.clock.advance(HOUR);
  await s.tick(); // job
  await env.write(memoryLocation(A, "n", "stray"), "x", 1);
  env.clock.advance(23 * HOUR);
  assertEquals((await s.tick()).outcome, "deferred");
  const status = await s.status();
  const view = await env.epochs.admin.overview(undefined, { global: true });
  const model = overviewModel({
    viewer: { address: "0xa", isAdmin: true },
    ...view,
    jobs: [],
    lifecycle: status,
  });
  const html = renderToString(OverviewPage(model));
  assertMatch(html, /Epoch lifecycle/);
  assertMatch(
    html,
    /Next rotation due<\/dt><dd class="next-rotation"><time datetime="2026-01-15T00:00:00.000Z"/,
  );
  assertMatch(html, /on schedule/);
  assertMatch(html, /Running step<\/dt><dd class="running-step">none/);
  assertMatch(html, /Last destruction<\/dt><dd class="last-destruction">none yet/);
  assertMatch(html, /Destroy deferred/);
  assertMatch(
    html,
    /Epoch 1: 1 blob remained \(blobs_remain\) at <time datetime="2026-01-09T00:00/,
  );
  assertMatch(html, /next try <time datetime="2026-01-09T01:00:00.000Z"/);
  assertMatch(html, /Forward-secrecy window/);
  // An operator who is not an admin sees why, not the global count, and no revocations.
  await s.recordRevocations(2);
  const operatorView = overviewModel({
    viewer: { address: "0xb", isAdmin: false },
    ...view,
    jobs: [],
    lifecycle: await s.status(),
  });
  assertEquals(operatorView.lifecycle?.pending_revocations, null);
  const operatorHtml = renderToString(OverviewPage(operatorView));
  assertMatch(operatorHtml, /Epoch 1: blobs remained \(blobs_remain\)/);
  assert(!operatorHtml.includes("Revocations pending"));
  assertMatch(
    renderToString(OverviewPage(overviewModel({
      viewer: { address: "0xa", isAdmin: true },
      ...view,
      jobs: [],
      lifecycle: await s.status(),
    }))),
    /Revocations pending<\/dt><dd>2 since/,
  );
  await s.store.clearRevocations((await s.store.revocations()).entry, env.clock.now());
  // 8 d old, bound 8 d: not yet a warning.
  assertEquals(model.warnings.filter((w) => w.kind === "window_overdue"), []);

  // Past the bound the overview warns.
  env.clock.advance(HOUR);
  const late = overviewModel({
    viewer: { address: "0xa", isAdmin: true },
    ...view,
    jobs: [],
    lifecycle: await s.status(),
  });
  const warning = late.warnings.find((w) => w.kind === "window_overdue");
  assert(warning, "window warning");
  assertMatch(warning.text, /overdue/);

  // The next try moves the stray blob and destroys: the card says so.
  await s.tick(); // job again
  assertEquals((await s.tick()).outcome, "done");
  const after = renderToString(OverviewPage(overviewModel({
    viewer: { address: "0xa", isAdmin: true },
    ...(await env.epochs.admin.overview(undefined, { global: true })),
    jobs: [],
    lifecycle: await s.status(),
  })));
  assertMatch(after, /Last destruction<\/dt><dd class="last-destruction">epoch 1, <time/);
  assert(!after.includes("Destroy deferred"));
  assertMatch(after, /oldest epoch not destroyed: 2/);
});

Deno.test("overview without a scheduler has no lifecycle card", () => {
  const html = renderToString(OverviewPage(overviewModel({
    viewer: { address: "0xa", isAdmin: true },
    active: 1,
    epochs: [{ epoch: 1, state: "active", createdAt: "2026-01-01T00:00:00Z" }],
    latestGlobal: null,
    latestOperator: null,
    pending: [],
    jobs: [],
  })));
  assert(!html.includes("Epoch lifecycle"));
});

Deno.test("durations read as the two largest units", () => {
  assertEquals(formatDuration(0), "0 s");
  assertEquals(formatDuration(59), "59 s");
  assertEquals(formatDuration(90), "1 min 30 s");
  assertEquals(formatDuration(8 * 86400 + 3 * 3600 + 5), "8 d 3 h");
});
