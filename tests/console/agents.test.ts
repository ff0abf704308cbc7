/// <reference lib="dom" />
/**
 * The Agents pages in Chromium against `deno task start`: an agent added with a key generated in
 * the browser (downloaded once in the CLI's format, never in a request), confirmed on chain and
 * in `GET /v1/operators/me`; a registration the chain refuses (same label twice) shows the
 * contract's reason; `cli agent init`'s device (0600 key file, printed proof) registered by
 * pasting; scope set and removed; revoke then purge, each confirmed first; a second operator
 * sees none of it (page and API). axe-core finds no serious or critical violation.
 */

import type { BrowserContext, Page } from "playwright-core";
import { type Hex, isAddressEqual } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { runTask, startServiceProcess } from "../support/service_process.ts";
import {
  assertAxeClean,
  injectWallet,
  launchBrowser,
  screenshot,
  signIn,
} from "../support/browser.ts";
import { deviceKeyHash } from "../../lib/identity/mod.ts";
import { AgentKeysClient } from "../../lib/client/mod.ts";

const CHAIN_ID = 31337;

async function assertAccessible(page: Page, name: string) {
  await assertAxeClean(page, name);
}

async function me(page: Page) {
  return await page.evaluate(async () => (await fetch("/v1/operators/me")).json()) as {
    operator_omni: string;
    agents: {
      label: string;
      generation: number;
      revoked: boolean;
      actor_omni: string;
      device_key_hash: string;
      scope: { services: string[]; read_only: boolean };
    }[];
  };
}

async function fund(page: Page, address: string) {
  const status = await page.evaluate(async (address) =>
    (await fetch("/v1/dev/faucet", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address }),
    })).status, address);
  assertEquals(status, 200);
}

/** Every request body the browser sends, for "the key never leaves" assertions. */
function recordBodies(context: BrowserContext): string[] {
  const bodies: string[] = [];
  context.on("request", (req) => bodies.push(`${req.url()} ${req.postData() ?? ""}`));
  return bodies;
}

Deno.test("agents pages in Chromium: add (browser key, pasted device), refusal, scope, revoke, purge, isolation; axe clean", async (t) => {
  await using dir = await tempDir();
  await using service = await startServiceProcess({ AGENTKEYS_DATA_DIR: join(dir.path, "data") });
  const url = service.url;
  await using browser = await launchBrowser();
  const bodies = recordBodies(browser);
  const operator = privateKeyToAccount(generatePrivateKey());
  const page = await browser.newPage();
  await injectWallet(page, { account: operator, chainId: CHAIN_ID, serviceUrl: url });
  await signIn(page, url);
  await fund(page, operator.address);

  await t.step("the navigation leads to an empty list with the add form", async () => {
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Agents" })
      .click();
    await page.waitForURL(`${url}/agents`);
    await page.getByText("No agents yet").waitFor();
    assertEquals(
      await page.getByRole("link", { name: "Agents" }).getAttribute("aria-current"),
      "page",
    );
    await screenshot(page, "agents-empty");
    await assertAccessible(page, "/agents (empty)");
  });

  let deviceKey = "";
  await t.step(
    "a browser-generated key: downloaded once in the CLI's format, never sent; registered and confirmed",
    async () => {
      await page.getByLabel("Label", { exact: true }).fill("mail-bot");
      assertEquals(await page.getByLabel("Generation", { exact: true }).inputValue(), "0");
      const download = page.waitForEvent("download");
      await page.getByRole("button", { name: "Register agent" }).click();
      const file = await download;
      assertEquals(file.suggestedFilename(), "mail-bot-0.key");
      deviceKey = await Deno.readTextFile(await file.path());
      assertMatch(deviceKey, /^0x[0-9a-f]{64}\n$/, "the format `cli agent add` writes");
      await page.getByRole("status").filter({ hasText: "is registered, confirmed in block" })
        .waitFor();
      assertMatch(await page.locator(".tx code").textContent() ?? "", /^0x[0-9a-f]{64}$/);
      await screenshot(page, "agents-added");
      await assertAccessible(page, "/agents (registered)");

      const key = deviceKey.trim();
      const leaked = bodies.filter((b) => b.includes(key) || b.includes(key.slice(2)));
      assertEquals(leaked, [], "the device key is in no request");
      const device = privateKeyToAccount(key as Hex);
      const { agents } = await me(page);
      assertEquals(agents.map((a) => [a.label, a.generation, a.revoked]), [["mail-bot", 0, false]]);
      assertEquals(agents[0].device_key_hash, deviceKeyHash(device.address));

      await page.reload();
      const row = page.locator("table.agents tbody tr");
      assertMatch(await row.first().textContent() ?? "", /^mail-bot0.*active/);
    },
  );

  await t.step("the same label and generation again: the chain's reason is shown", async () => {
    await page.getByLabel("Label", { exact: true }).fill("mail-bot");
    assertEquals(
      await page.getByLabel("Generation", { exact: true }).inputValue(),
      "1",
      "next free generation",
    );
    await page.getByLabel("Generation", { exact: true }).fill("0");
    await page.getByRole("button", { name: "Register agent" }).click();
    const alert = page.getByRole("alert").filter({ hasText: "AgentAlreadyRegistered" });
    await alert.waitFor();
    assertMatch(
      await alert.textContent() ?? "",
      /The chain refused the registration \(AgentAlreadyRegistered\): This label and generation are already registered/,
    );
    assertEquals((await me(page)).agents.length, 1, "nothing registered");
    await screenshot(page, "agents-refused");
    await assertAccessible(page, "/agents (refused)");
  });

  await t.step(
    "cli agent init: a 0600 key file and a proof that registers when pasted",
    async () => {
      const out = join(dir.path, "devices");
      const run = await runTask("cli", [
        "agent",
        "init",
        "--label",
        "paste-bot",
        "--operator",
        operator.address,
        "--out",
        out,
      ], { AGENTKEYS_URL: url, AGENTKEYS_CLI_HOME: join(dir.path, "home") });
      assertEquals(run.code, 0, run.stderr);
      const address = /^device address (0x[0-9a-fA-F]{40})$/m.exec(run.stdout)?.[1];
      const pop = /^device pop (0x[0-9a-f]{130})$/m.exec(run.stdout)?.[1];
      assert(address && pop, run.stdout);
      const keyPath = join(out, "paste-bot-0.key");
      assertEquals((await Deno.stat(keyPath)).mode! & 0o777, 0o600);
      const key = (await Deno.readTextFile(keyPath)).trim() as Hex;
      assert(
        isAddressEqual(privateKeyToAccount(key).address, address as Hex),
        "the printed address",
      );
      assert(!run.stdout.includes(key.slice(2)), "the key is not printed");

      await page.getByLabel("Label", { exact: true }).fill("paste-bot");
      await page.getByLabel("Generation", { exact: true }).fill("0");
      await page.getByLabel("Paste a device address").check();
      await page.getByLabel("Device address", { exact: true }).fill(address);
      await page.getByLabel("Device proof (device pop)").fill(pop);
      await screenshot(page, "agents-paste");
      await assertAccessible(page, "/agents (paste form)");
      await page.getByRole("button", { name: "Register agent" }).click();
      await page.getByRole("status").filter({ hasText: "paste-bot (generation 0) is registered" })
        .waitFor();
      const agent = (await me(page)).agents.find((a) => a.label === "paste-bot");
      assertEquals(agent?.device_key_hash, deviceKeyHash(address));
    },
  );

  await t.step("a malformed pasted proof is refused before the wallet is asked", async () => {
    await page.getByLabel("Label", { exact: true }).fill("bad-bot");
    await page.getByLabel("Device address", { exact: true }).fill(operator.address);
    await page.getByLabel("Device proof (device pop)").fill("0x1234");
    await page.getByRole("button", { name: "Register agent" }).click();
    await page.getByRole("alert").filter({ hasText: "The proof is 0x and 130 hex digits" })
      .waitFor();
    assertEquals(
      await page.getByLabel("Device proof (device pop)").getAttribute("aria-invalid"),
      "true",
    );
  });

  await t.step(
    "scope: set (names taught to the service), shown on the page and in the API",
    async () => {
      await page.goto(`${url}/agents/mail-bot`);
      await page.getByText("No scope yet").waitFor();
      await page.getByLabel("Services").fill("openai, github");
      await page.getByLabel(/^Read-only/).check();
      await page.getByRole("button", { name: "Save scope" }).click();
      await page.getByRole("status").filter({ hasText: "The scope change is confirmed" }).waitFor();
      await page.locator(".scope-now").filter({ hasText: "openai, github (read-only)" }).waitFor();
      const agent = (await me(page)).agents.find((a) => a.label === "mail-bot")!;
      assertEquals(agent.scope, { services: ["openai", "github"], read_only: true });
      // A credential for the agent, so the purge below has something to delete.
      const jwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;
      const api = new AgentKeysClient(url).withSession(jwt);
      const target = {
        operator_omni: (await me(page)).operator_omni,
        actor_omni: agent.actor_omni,
      };
      const { cap } = await api.mintCap("cred-store", { ...target, service: "openai" });
      await api.storeCredential(cap, new TextEncoder().encode("sk-test"));
      await screenshot(page, "agent-scope");
      await assertAccessible(page, "/agents/mail-bot (scope set)");
      await page.goto(`${url}/agents`);
      assertMatch(
        await page.locator("table.agents tbody tr").first().textContent() ?? "",
        /openai, github.*read-only/,
      );
    },
  );

  await t.step("scope: a bad service name is refused; removing the scope empties it", async () => {
    await page.goto(`${url}/agents/mail-bot`);
    await page.getByLabel("Services").fill("Open AI");
    await page.getByRole("button", { name: "Save scope" }).click();
    await page.getByRole("alert").filter({ hasText: "Not a service name: Open, AI" }).waitFor();
    await page.getByRole("button", { name: "Remove scope" }).click();
    await page.getByRole("status").filter({ hasText: "The scope removal is confirmed" }).waitFor();
    const agent = (await me(page)).agents.find((a) => a.label === "mail-bot")!;
    assertEquals(agent.scope.services, []);
  });

  await t.step("revoke (confirmed first), then purge (confirmed first)", async () => {
    await page.getByRole("button", { name: "Revoke mail-bot…" }).click();
    const yes = page.getByRole("button", { name: "Yes, revoke mail-bot" });
    await yes.waitFor();
    assert(await yes.evaluate((el) => el === document.activeElement), "focus moves to the confirm");
    await screenshot(page, "agent-revoke-confirm");
    await assertAccessible(page, "/agents/mail-bot (confirm revoke)");
    await page.getByRole("button", { name: "Cancel" }).click();
    assertEquals((await me(page)).agents.find((a) => a.label === "mail-bot")!.revoked, false);

    await page.getByRole("button", { name: "Revoke mail-bot…" }).click();
    await page.getByRole("button", { name: "Yes, revoke mail-bot" }).click();
    await page.getByRole("status").filter({ hasText: "The revocation is confirmed" }).waitFor();
    assertEquals((await me(page)).agents.find((a) => a.label === "mail-bot")!.revoked, true);

    await page.getByRole("button", { name: "Purge data…" }).click();
    await page.getByRole("button", { name: "Yes, purge mail-bot's data" }).click();
    await page.getByRole("status").filter({
      hasText: /^Purged: [1-9]\d* blobs? of mail-bot deleted/,
    })
      .waitFor();
    await screenshot(page, "agent-purged");
    await assertAccessible(page, "/agents/mail-bot (purged)");
    await page.reload();
    await page.locator(".agent-state .state.revoked").waitFor();
  });

  await t.step("a second operator sees none of the first one's agents (page and API)", async () => {
    const other = privateKeyToAccount(generatePrivateKey());
    // The profile is one persistent context: signing the first operator out is what matters.
    await browser.clearCookies();
    const otherPage = await browser.newPage();
    await injectWallet(otherPage, { account: other, chainId: CHAIN_ID, serviceUrl: url });
    await signIn(otherPage, url);
    await otherPage.goto(`${url}/agents`);
    await otherPage.getByText("No agents yet").waitFor();
    assert(!(await otherPage.content()).includes("mail-bot"), "no label of the first operator");
    const res = await otherPage.goto(`${url}/agents/mail-bot`);
    assertEquals(res?.status(), 404);
    await otherPage.getByRole("heading", { name: "No agent labelled mail-bot" }).waitFor();
    await assertAccessible(otherPage, "/agents/mail-bot (another operator)");
    assertEquals((await me(otherPage)).agents, []);
    await otherPage.close();
  });
  await page.close();
});
