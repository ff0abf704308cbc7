/// <reference lib="dom" />
/**
 * The Epochs & jobs pages and the audit page in Chromium against `deno task start` (one service
 * start): the admin stores many small blobs through the API, rotates from the page, runs a dry
 * run, then a real job at concurrency 1 whose rows appear while it still runs; a reload mid-job
 * loses and doubles no row (the page's row ids equal the stored log's); a census enables "Drop
 * epoch 1", whose answer carries the supplied-seal-key warning; the audit page lists the rotation
 * and the destruction. A second operator sees no controls, not the admin's job (page and API),
 * and no service-wide audit entry. axe-core finds no serious or critical violation in any state.
 */

import type { Page } from "playwright-core";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { startServiceProcess } from "../support/service_process.ts";
import {
  assertAxeClean,
  injectWallet,
  launchBrowser,
  screenshot,
  signIn,
} from "../support/browser.ts";
import { AgentKeysClient, ApiCallError } from "../../lib/client/mod.ts";

const CHAIN_ID = 31337;
/** More than the page's window (1,000 rows) so the bound is exercised too. */
const BLOBS = 1_200;

async function assertAccessible(page: Page, name: string) {
  await assertAxeClean(page, name);
}

async function capture(page: Page, name: string) {
  await screenshot(page, name);
  await assertAccessible(page, name);
}

/** The blob row ids on the page, and the job state the island shows, read at one instant. */
function logView(page: Page): Promise<{ ids: number[]; state: string }> {
  return page.evaluate(() => ({
    ids: [...document.querySelectorAll("table.joblog tbody tr")].map((tr) =>
      Number((tr as HTMLElement).dataset.eventId)
    ),
    state: document.querySelector("[data-job-state]")?.getAttribute("data-job-state") ?? "",
  }));
}

/** Every `blob` event id of the job's stored log (read to `end` over the API's stream). */
async function storedBlobIds(url: string, jwt: string, jobId: string): Promise<number[]> {
  const res = await fetch(`${url}/v1/reencrypt/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${jwt}` },
  });
  assertEquals(res.status, 200);
  const text = await res.text();
  const ids: number[] = [];
  for (const block of text.split("\n\n")) {
    const id = /^id: ?(\d+)$/m.exec(block);
    if (id && /^event: ?blob$/m.test(block)) ids.push(Number(id[1]));
  }
  return ids;
}

Deno.test("epochs, jobs and audit pages in Chromium: rotate, dry run, live real job with reload, census then drop, audit; another operator sees none of it; axe clean", async (t) => {
  await using dir = await tempDir();
  const adminKey = generatePrivateKey();
  const admin = privateKeyToAccount(adminKey);
  const sealKey = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
    AGENTKEYS_ADMINS: admin.address,
    AGENTKEYS_SEAL_KEY: sealKey,
  });
  const url = service.url;
  const api = new AgentKeysClient(url);

  const login = await api.loginWithWallet(admin);
  const adminApi = api.withSession(login.session_jwt);
  const omni = login.operator_omni;
  {
    let next = 0;
    const worker = async () => {
      while (next < BLOBS) {
        const i = next++;
        const { cap } = await adminApi.mintCap("cred-store", {
          operator_omni: omni,
          actor_omni: omni,
          service: `svc-${i}`,
        });
        await api.storeCredential(cap, new TextEncoder().encode(`v${i}`));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await injectWallet(page, { account: admin, chainId: CHAIN_ID, serviceUrl: url });
  await signIn(page, url);
  const jwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;

  await t.step(
    "the navigation leads to /epochs; rotate asks first, then epoch 2 is active",
    async () => {
      await page.getByRole("navigation", { name: "Console" }).getByRole("link", {
        name: "Epochs & jobs",
      }).click();
      await page.waitForURL(`${url}/epochs`);
      assertEquals(await page.locator(".active-epoch").textContent(), "1");
      await page.getByText("Nothing to re-encrypt: no epoch is retiring.").waitFor();
      await capture(page, "epochs-admin");
      await page.getByRole("button", { name: "Rotate…" }).click();
      const yes = page.getByRole("button", { name: "Rotate to epoch 2" });
      assert(
        await yes.evaluate((el) => el === document.activeElement),
        "focus on the confirmation",
      );
      await capture(page, "epochs-rotate-confirm");
      await Promise.all([page.waitForURL(`${url}/epochs?rotated=2`), yes.click()]);
      await page.getByRole("status").filter({ hasText: "epoch 2 is now active" }).waitFor();
      assertEquals(await page.locator(".active-epoch").textContent(), "2");
      const drop = page.getByRole("button", { name: "Drop epoch 1" });
      assert(await drop.isDisabled(), "no census yet: drop is disabled");
      await page.getByText("No census yet: take one to see what it holds.").waitFor();
      await capture(page, "epochs-rotated");
    },
  );

  let realJob = "";
  await t.step("a dry run lists every blob as would-reencrypt, changing nothing", async () => {
    await page.locator('[data-island="EpochControls"] form').waitFor();
    assert(await page.getByLabel(/Dry run/).isChecked());
    await Promise.all([
      page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/),
      page.getByRole("button", { name: "Start job" }).click(),
    ]);
    await page.locator('[data-job-state="succeeded"]').waitFor({ timeout: 60_000 });
    await page.getByText(
      `${BLOBS.toLocaleString("en")} of ${BLOBS.toLocaleString("en")} blobs done`,
    )
      .waitFor();
    const view = await logView(page);
    assertEquals(view.ids.length, 1_000, "the page keeps a window of 1,000 rows");
    await page.getByLabel("Outcome").selectOption("reencrypted");
    assertEquals((await logView(page)).ids.length, 0, "the filter hides every would-reencrypt row");
    await page.getByLabel("Outcome").selectOption("would-reencrypt");
    assertEquals((await logView(page)).ids.length, 1_000);
    await capture(page, "job-dry-run");
  });

  await t.step(
    "a real job at concurrency 1: rows appear while it runs; a reload mid-job loses and doubles nothing",
    async () => {
      await page.goto(`${url}/epochs`);
      await page.locator('[data-island="EpochControls"] form').waitFor();
      await page.getByLabel(/Dry run/).uncheck();
      await page.getByLabel("Concurrency").fill("1");
      await Promise.all([
        page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/),
        page.getByRole("button", { name: "Start job" }).click(),
      ]);
      realJob = new URL(page.url()).pathname.split("/").pop()!;
      await page.locator("table.joblog tbody tr").first().waitFor();
      const early = await logView(page);
      assert(early.ids.length > 0, "rows are shown");
      assertEquals(early.state, "running", "…while the job is still running");
      await capture(page, "job-live");
      await page.reload();
      const afterReload = await logView(page);
      assert(afterReload.state === "running" || afterReload.ids.length > 0);
      await page.locator('[data-job-state="succeeded"]').waitFor({ timeout: 120_000 });
      const done = await logView(page);
      const stored = await storedBlobIds(url, jwt, realJob);
      assertEquals(stored.length, BLOBS, "the stored log has a row per blob");
      assertEquals(new Set(done.ids).size, done.ids.length, "no row shown twice");
      // Newest first on the page; the window is the newest 1,000 of the stored log.
      assertEquals(done.ids, stored.slice(-1_000).reverse());
      await page.getByText(
        `${BLOBS.toLocaleString("en")} of ${BLOBS.toLocaleString("en")} blobs done`,
      )
        .waitFor();
      assertEquals(
        await page.locator("table.counts td").first().textContent(),
        BLOBS.toLocaleString("en"),
        "re-encrypted count",
      );
      await capture(page, "job-real-done");
    },
  );

  await t.step("past jobs are listed with their summaries", async () => {
    await page.goto(`${url}/epochs`);
    const rows = page.locator("table.jobs tbody tr");
    assertEquals(await rows.count(), 2);
    assertMatch(
      (await rows.first().textContent()) ?? "",
      new RegExp(`${realJob}.*real.*succeeded.*1,200 re-encrypted`),
    );
    assertMatch((await rows.nth(1).textContent()) ?? "", /dry run.*1,200 would re-encrypt/);
  });

  await t.step(
    "after a census, Drop epoch 1 is enabled; the answer's seal key warning is shown",
    async () => {
      await page.goto(`${url}/`);
      await Promise.all([
        page.waitForEvent("load"),
        page.getByRole("button", { name: "Take census" }).click(),
      ]);
      await page.goto(`${url}/epochs`);
      const drop = page.getByRole("button", { name: "Drop epoch 1" });
      await page.getByText("The latest census counted no blob under it.").waitFor();
      await page.locator('[data-island="EpochControls"] form').waitFor();
      assert(await drop.isEnabled(), "drop is enabled after a census that counts none");
      await drop.click();
      await capture(page, "epochs-drop-confirm");
      await page.getByRole("button", { name: "Destroy epoch 1" }).click();
      const status = page.getByRole("status").filter({ hasText: "Epoch 1 is destroyed" });
      await status.waitFor();
      assertMatch((await status.textContent()) ?? "", /Warning: .*seal key/i);
      await capture(page, "epochs-dropped");
    },
  );

  await t.step(
    "the audit page lists the rotation and the destruction; a kind filter is in the URL",
    async () => {
      await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Audit" })
        .click();
      await page.waitForURL(`${url}/audit`);
      const kinds = await page.locator("table.audit tbody tr").evaluateAll((trs) =>
        trs.map((tr) => (tr as HTMLElement).dataset.kind)
      );
      // Every blob write is in the log too (BlobWritten, issue 11): the first page is the newest
      // 50 entries, so the epoch events are looked up by kind below.
      assert(kinds.length > 0, "the audit page lists entries");
      await capture(page, "audit-admin");
      const times: Record<string, string> = {};
      for (const k of ["epoch_destroyed", "reencrypt_job_finished"]) {
        await page.goto(`${url}/audit?kind=${k}`);
        const rows = page.locator("table.audit tbody tr");
        assert((await rows.count()) > 0, `${k} listed`);
        times[k] = (await rows.first().locator("time").getAttribute("datetime")) ?? "";
      }
      await page.getByLabel("Kind").selectOption("epoch_rotated");
      await Promise.all([
        page.waitForURL((u) => u.searchParams.get("kind") === "epoch_rotated"),
        page.getByRole("button", { name: "Filter" }).click(),
      ]);
      const filtered = await page.locator("table.audit tbody tr").evaluateAll((trs) =>
        trs.map((tr) => (tr as HTMLElement).dataset.kind)
      );
      assert(filtered.length > 0);
      assertEquals(new Set(filtered), new Set(["epoch_rotated"]));
      const rotatedAt = await page.locator("table.audit tbody tr").first().locator("time")
        .getAttribute("datetime");
      assert(rotatedAt! < times.epoch_destroyed, "the rotation came before the destruction");
      await capture(page, "audit-filtered");
    },
  );

  await t.step(
    "another operator: no controls, not the admin's job (page and API), no service-wide audit entry",
    async () => {
      await browser.clearCookies();
      const other = privateKeyToAccount(generatePrivateKey());
      const otherPage = await browser.newPage();
      await injectWallet(otherPage, { account: other, chainId: CHAIN_ID, serviceUrl: url });
      await signIn(otherPage, url);
      await otherPage.goto(`${url}/epochs`);
      assertEquals(await otherPage.locator(".badge").first().textContent(), "operator");
      assertEquals(
        await otherPage.getByRole("button", { name: /Rotate|Drop epoch|Start job/ }).count(),
        0,
      );
      assertEquals(await otherPage.locator('[data-island="EpochControls"]').count(), 0);
      await otherPage.getByText("No re-encryption job yet.").waitFor();
      await capture(otherPage, "epochs-operator");
      const res = await otherPage.goto(`${url}/jobs/${realJob}`);
      assertEquals(res?.status(), 403);
      await otherPage.getByText("This job belongs to another operator.").waitFor();
      assertEquals(await otherPage.locator("table.joblog").count(), 0);
      await capture(otherPage, "job-other-operator");
      const otherJwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;
      const err = await api.withSession(otherJwt).job(realJob).then(
        () => null,
        (e) => e as ApiCallError,
      );
      assertEquals([err?.status, err?.code], [403, "other_operator"]);
      const events = await fetch(`${url}/v1/reencrypt/jobs/${realJob}/events`, {
        headers: { authorization: `Bearer ${otherJwt}` },
      });
      assertEquals(events.status, 403);
      await events.body?.cancel();
      assertEquals((await otherPage.goto(`${url}/jobs/no-such-job`))?.status(), 404);
      await otherPage.goto(`${url}/audit`);
      await otherPage.getByText("No entry matches.").waitFor();
      await capture(otherPage, "audit-operator");
    },
  );
});
