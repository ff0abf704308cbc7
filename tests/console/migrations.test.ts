/// <reference lib="dom" />
/**
 * The Migrations pages in Chromium against `deno task start` (one service start): legacy blobs
 * written into the service's fs store by the independent writer (tests/migrate/legacy_writer.ts),
 * a dry run started through the API; the job page, opened while the job runs, streams its rows to
 * the end and they equal the stored log's; the list shows the job with its counts; the keyboard
 * reaches the job and the outcome filter with a visible focus ring. A second operator sees the
 * empty state, and the first one's job as the API answers it (403); an unknown job is 404. axe
 * finds no serious or critical violation in any state.
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
import { AgentKeysClient } from "../../lib/client/mod.ts";
import { FsBlobStore } from "../../lib/store/mod.ts";
import { legacyBlob } from "../migrate/legacy_writer.ts";

const CHAIN_ID = 31337;
/**
 * Legacy blobs of the operator's wallet: enough that the dry run still runs when the page's
 * request arrives (tens of ms after the start; the job takes about 6 ms a blob), few enough that
 * axe over the finished log stays quick (its cost grows with the rows).
 */
const LEGACY = 120;

async function capture(page: Page, name: string) {
  await screenshot(page, name);
  await assertAxeClean(page, name);
}

/** The rows on the page (newest first) and the state the island shows, read at one instant. */
function logView(page: Page): Promise<{ ids: number[]; outcomes: string[]; state: string }> {
  return page.evaluate(() => {
    const trs = [...document.querySelectorAll<HTMLElement>("table.joblog tbody tr")];
    return {
      ids: trs.map((tr) => Number(tr.dataset.eventId)),
      outcomes: trs.map((tr) => tr.dataset.outcome ?? ""),
      state: document.querySelector("[data-job-state]")?.getAttribute("data-job-state") ?? "",
    };
  });
}

/** The job's stored log over the API's stream, to `end`: blob ids and their outcomes. */
async function storedLog(url: string, jwt: string, jobId: string) {
  const res = await fetch(`${url}/v1/migrate/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${jwt}` },
  });
  assertEquals(res.status, 200);
  const blobs: { id: number; outcome: string; reason?: string }[] = [];
  for (const block of (await res.text()).split("\n\n")) {
    const id = /^id: ?(\d+)$/m.exec(block);
    const data = /^data: ?(.*)$/m.exec(block);
    if (id && data && /^event: ?blob$/m.test(block)) {
      const b = JSON.parse(data[1]);
      blobs.push({ id: Number(id[1]), outcome: b.outcome, reason: b.reason });
    }
  }
  return blobs;
}

/** Tabs until `selector` has the focus (at most `max` presses); its outline must be visible. */
async function tabTo(page: Page, selector: string, max = 40) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const style = await page.evaluate((sel) => {
      const el = document.activeElement;
      if (!el || !el.matches(sel)) return null;
      const s = getComputedStyle(el);
      return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) };
    }, selector);
    if (style) {
      assert(style.style !== "none" && style.width >= 2, `visible focus on ${selector}`);
      return;
    }
  }
  throw new Error(`${selector} not reached with Tab`);
}

Deno.test("migrations pages in Chromium: a dry run's log streams to its end; list, keyboard; another operator sees none of it; axe clean", async (t) => {
  await using dir = await tempDir();
  const data = join(dir.path, "data");
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: data,
    AGENTKEYS_SEAL_KEY: crypto.getRandomValues(new Uint8Array(32)).toHex(),
  });
  const url = service.url;
  const api = new AgentKeysClient(url);
  const operator = privateKeyToAccount(generatePrivateKey());
  const wallet = operator.address.toLowerCase();
  const signerKey = generatePrivateKey();
  const signer = privateKeyToAccount(signerKey);

  // This project's credential `conflicting` exists already: its legacy copy (v1, another
  // plaintext) is a conflict. Two blobs sealed by another signer fail with a reason.
  const login = await api.loginWithWallet(operator);
  const opApi = api.withSession(login.session_jwt);
  {
    const grant = {
      operator_omni: login.operator_omni,
      actor_omni: login.operator_omni,
      service: "conflicting",
    };
    const { cap } = await opApi.mintCap("cred-store", grant);
    await api.storeCredential(cap, new TextEncoder().encode("the current value"));
  }
  const raw = new FsBlobStore(join(data, "blobs"));
  const write = async (service: string, version: 1 | 2, by = signer) => {
    const blob = await legacyBlob(by, wallet, service, version, `${service} legacy value`);
    await raw.put(blob.key, blob.bytes);
  };
  const stranger = privateKeyToAccount(generatePrivateKey());
  await write("conflicting", 1);
  await write("foreign-a", 1, stranger);
  await write("foreign-b", 1, stranger);
  for (let i = 0; i < LEGACY; i++) await write(`svc-${i}`, i % 2 === 0 ? 2 : 1);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await injectWallet(page, { account: operator, chainId: CHAIN_ID, serviceUrl: url });
  await signIn(page, url);
  const jwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;

  await t.step(
    "the navigation leads to /migrations: the empty state says how to start",
    async () => {
      await page.getByRole("navigation", { name: "Console" }).getByRole("link", {
        name: "Migrations",
      }).click();
      await page.waitForURL(`${url}/migrations`);
      await page.getByText("No migration jobs yet").waitFor();
      const command = (await page.locator("pre.command").textContent()) ?? "";
      assertMatch(command, new RegExp(`migrate-legacy --url ${url} `));
      assertMatch(command, new RegExp(`--operator ${wallet} `, "i"));
      assertMatch(command, /--dry-run/);
      assertEquals(await page.locator("input, textarea").count(), 0, "no field for the key");
      await capture(page, "migrations-empty");
    },
  );

  let jobId = "";
  await t.step(
    "a dry run started over the API: the job page, opened while it runs, streams every row to the summary",
    async () => {
      const started = await fetch(`${url}/v1/migrate/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
        body: JSON.stringify({ operator: wallet, legacy_signer_key: signerKey, dry_run: true }),
      });
      assertEquals(started.status, 201);
      jobId = (await started.json()).job_id;
      const res = await page.goto(`${url}/migrations/${jobId}`);
      assertEquals(res?.status(), 200);
      const served = await res!.text();
      // The snapshot the server rendered: the job was still running, so the rest came over SSE.
      assertMatch(served, /data-job-state="running"/, "the page opened while the job ran");
      const servedRows = [...served.matchAll(/<tr data-event-id="/g)].length;
      // On a quick machine the island may show the end already: axe checks whichever state.
      await capture(page, "migration-live");
      await page.locator('[data-job-state="failed"]').waitFor({ timeout: 120_000 });
      await page.getByText("(live)").waitFor({ state: "detached" });
      const view = await logView(page);
      const stored = await storedLog(url, jwt, jobId);
      const total = LEGACY + 4; // + the conflict, two foreign blobs, this project's own credential
      assertEquals(stored.length, total, "a row per blob in the stored log");
      assert(servedRows < total, `rows streamed after the first render (${servedRows} rendered)`);
      assertEquals(new Set(view.ids).size, view.ids.length, "no row shown twice");
      // The window keeps every row here (fewer than 1,000), newest first.
      assertEquals(view.ids, stored.map((b) => b.id).reverse());
      assertEquals(view.outcomes, stored.map((b) => b.outcome).reverse());
      const count = async (key: string) =>
        (await page.locator(`table.counts td[data-count="${key}"]`).textContent())?.trim();
      assertEquals(await count("would_migrate"), LEGACY.toLocaleString("en"));
      assertEquals(await count("conflict"), "1");
      assertEquals(await count("failed"), "2");
      assertEquals(await count("skipped"), "1", "this project's own credential is not legacy");
      await page.getByText(`${total.toLocaleString("en")} blobs done`).waitFor();
      const failed = stored.filter((b) => b.outcome === "failed");
      assert(failed.every((b) => b.reason), "failures carry a reason");
      await page.locator("tr[data-outcome=failed]").first().getByText(`(${failed[0].reason})`)
        .waitFor();
      await capture(page, "migration-done");
    },
  );

  await t.step(
    "the list shows the job with its counts; the keyboard reaches it and filters its log",
    async () => {
      await page.goto(`${url}/migrations`);
      const row = page.locator(`table.migrations tbody tr[data-job-id="${jobId}"]`);
      assertMatch(
        (await row.textContent()) ?? "",
        new RegExp(`dry run.*failed.*${LEGACY} would migrate, 1 skipped, 1 conflict, 2 failed`),
      );
      await capture(page, "migrations-list");
      await tabTo(page, `a[href="/migrations/${jobId}"]`);
      await Promise.all([
        page.waitForURL(`${url}/migrations/${jobId}`),
        page.keyboard.press("Enter"),
      ]);
      // The island's chunk loaded (it hydrates right then): the filter works from now on.
      await page.waitForLoadState("networkidle");
      await tabTo(page, "#outcome-filter");
      // All → migrated → would-migrate → skipped → conflict.
      for (let i = 0; i < 4; i++) await page.keyboard.press("ArrowDown");
      await page.waitForFunction(() =>
        document.querySelectorAll("table.joblog tbody tr").length === 1
      );
      const only = await logView(page);
      assertEquals(only.outcomes, ["conflict"]);
      await capture(page, "migration-filtered");
    },
  );

  await t.step(
    "another operator: the empty state, the job answers 403 as the API does; unknown 404",
    async () => {
      await browser.clearCookies();
      const other = privateKeyToAccount(generatePrivateKey());
      const otherPage = await browser.newPage();
      await injectWallet(otherPage, { account: other, chainId: CHAIN_ID, serviceUrl: url });
      await signIn(otherPage, url);
      await otherPage.goto(`${url}/migrations`);
      await otherPage.getByText("No migration jobs yet").waitFor();
      assertEquals(await otherPage.locator(`a[href="/migrations/${jobId}"]`).count(), 0);
      const otherJwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;
      const apiAnswer = await fetch(`${url}/v1/migrate/jobs/${jobId}`, {
        headers: { authorization: `Bearer ${otherJwt}` },
      });
      await apiAnswer.body?.cancel();
      const res = await otherPage.goto(`${url}/migrations/${jobId}`);
      assertEquals([res?.status(), apiAnswer.status], [403, 403]);
      await otherPage.getByText("This migration job belongs to another operator.").waitFor();
      assertEquals(await otherPage.locator("table.joblog").count(), 0);
      await capture(otherPage, "migration-other-operator");
      const unknown = crypto.randomUUID();
      const missing = await otherPage.goto(`${url}/migrations/${unknown}`);
      assertEquals(missing?.status(), 404);
      await otherPage.getByText(`There is no migration job ${unknown}.`).waitFor();
      await capture(otherPage, "migration-unknown");
    },
  );
});
