/// <reference lib="dom" />
/**
 * The credentials pages in Chromium against `deno task start`: an operator stores a secret for
 * itself and for its agent (registered on the embedded chain through the service's proxy), sees
 * them listed with epoch and size, the agent fetches its secret with its device key through the
 * API and gets exactly what was typed; replace; delete behind a confirmation dialog (cancel
 * first); a second operator can neither see nor touch the first one's credentials (pages and
 * API). Secrets never appear in the HTML, in any URL requested, or in a field when a screenshot
 * is taken. axe-core finds no serious or critical violation in any state.
 */

import type { Page } from "playwright-core";
import { createPublicClient, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { startServiceProcess } from "../support/service_process.ts";
import { assertAxeClean, injectWallet, launchBrowser, screenshot } from "../support/browser.ts";
import { type ChainHandle, registerAgent, setScope, walletFor } from "../support/chain.ts";
import { AgentKeysClient, ApiCallError } from "../../lib/client/mod.ts";

const CHAIN_ID = 31337;
const SECRETS = {
  own: "sk_live_operator-own-7f3a9c",
  first: "sk-agent-first-41d2e8",
  second: "sk-agent-replaced-9b7c05",
};

async function assertAccessible(page: Page, name: string) {
  await assertAxeClean(page, name);
}

/** Screenshot only with every secret field empty, and check the page's HTML holds no secret. */
async function capture(page: Page, name: string) {
  for (
    const value of await page.locator('input[type="password"]').evaluateAll((els) =>
      els.map((el) => (el as HTMLInputElement).value)
    )
  ) {
    assertEquals(value, "", `${name}: a secret field is empty`);
  }
  await assertNoSecret(page, name);
  await screenshot(page, name);
  await assertAccessible(page, name);
}

async function assertNoSecret(page: Page, where: string) {
  const html = await page.content();
  for (const secret of Object.values(SECRETS)) {
    assert(!html.includes(secret), `${where}: the page's HTML holds a secret`);
    assert(!html.includes(btoa(secret)), `${where}: the page's HTML holds a secret (base64)`);
  }
}

async function rows(page: Page, section = 0): Promise<string[][]> {
  return await page.locator("section.card").nth(section).locator("table.creds tbody tr")
    .evaluateAll((trs) =>
      trs.map((tr) =>
        [...tr.querySelectorAll("th, td")].slice(0, 3).map((c) => c.textContent?.trim() ?? "")
      )
    );
}

async function storeThroughPage(page: Page, service: string | null, secret: string) {
  if (service !== null) await page.getByLabel("Service").fill(service);
  const field = page.getByLabel("Secret", { exact: true });
  assertEquals(await field.getAttribute("type"), "password");
  assertEquals(await field.getAttribute("autocomplete"), "off");
  await field.fill(secret);
  const stored = service ?? await page.getByLabel("Service").inputValue();
  await Promise.all([
    page.waitForURL((u) => u.searchParams.get("stored") === stored),
    page.getByRole("button", { name: "Store secret" }).click(),
  ]);
  await page.getByRole("status").filter({ hasText: `Stored ${stored}.` }).waitFor();
}

Deno.test("credentials pages in Chromium: store for self and agent, agent fetches it, replace, delete with confirmation, another operator sees nothing; axe clean", async (t) => {
  await using dir = await tempDir();
  await using service = await startServiceProcess({
    AGENTKEYS_DATA_DIR: join(dir.path, "data"),
  });
  const url = service.url;
  await using browser = await launchBrowser();
  const requested: string[] = [];
  browser.on("request", (req) => requested.push(req.url()));

  const api = new AgentKeysClient(url);
  const info = await api.chain();
  const rpc = `${url}/v1/chain/rpc`;
  const chain: ChainHandle = {
    addresses: Object.fromEntries(
      Object.entries(info.contracts).map(([name, c]) => [name, c.address]),
    ) as unknown as ChainHandle["addresses"],
    publicClient: createPublicClient({ transport: http(rpc) }) as ChainHandle["publicClient"],
  };
  const faucet = async (address: string) => {
    const res = await fetch(`${url}/v1/dev/faucet`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address }),
    });
    assertEquals(res.status, 200, await res.text());
  };

  const operatorKey = generatePrivateKey();
  const operator = walletFor(rpc, CHAIN_ID, operatorKey);
  await faucet(operator.address);
  const agent = await registerAgent(chain, operator, "mail-bot", 0);
  await setScope(chain, operator, agent.actorOmni, ["openai", "github"], false);

  const page = await browser.newPage();
  await injectWallet(page, {
    account: privateKeyToAccount(operatorKey),
    chainId: CHAIN_ID,
    serviceUrl: url,
  });
  await page.goto(`${url}/login`);
  await Promise.all([
    page.waitForURL(`${url}/`),
    page.getByRole("button", { name: "Connect wallet" }).click(),
  ]);
  const jwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;
  const operatorApi = api.withSession(jwt);

  await t.step("the navigation leads to /credentials; nothing stored yet", async () => {
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", {
      name: "Credentials",
    }).click();
    await page.waitForURL(`${url}/credentials`);
    assertEquals(
      await page.locator('nav a[aria-current="page"]').textContent(),
      "Credentials",
    );
    await page.getByText("No credentials stored.").waitFor();
    await page.locator('[data-island="StoreCredential"] form').waitFor();
    await capture(page, "credentials-empty");
  });

  await t.step(
    "store a secret for the operator itself: listed with epoch 1 and its size; the field is cleared",
    async () => {
      await storeThroughPage(page, "stripe", SECRETS.own);
      assertEquals(await rows(page), [["stripe", "1", `${SECRETS.own.length} bytes`]]);
      assertEquals(await page.getByLabel("Secret", { exact: true }).inputValue(), "");
      await capture(page, "credentials-own");
      const listed = await operatorApi.listCredentials(operator.omni);
      assertEquals(
        listed.items.map((i) => [i.service, i.epoch, i.size]),
        [["stripe", 1, SECRETS.own.length]],
      );
    },
  );

  const device = privateKeyToAccount(agent.deviceKey);
  const agentFetch = async (svc: string) => {
    const login = await api.loginWithDevice(device);
    const agentApi = api.withSession(login.session_jwt);
    const { cap } = await agentApi.mintCap("cred-fetch", {
      operator_omni: operator.omni,
      actor_omni: agent.actorOmni,
      service: svc,
    });
    return new TextDecoder().decode((await agentApi.fetchCredential(cap)).plaintext);
  };

  await t.step(
    "store for the agent on /agents/mail-bot/credentials; the agent fetches exactly that with its device key",
    async () => {
      await page.goto(`${url}/agents/mail-bot/credentials`);
      await page.getByRole("heading", { name: "Credentials of mail-bot" }).waitFor();
      await page.getByText("No credentials stored.").waitFor();
      await storeThroughPage(page, "openai", SECRETS.first);
      assertEquals(await rows(page), [["openai", "1", `${SECRETS.first.length} bytes`]]);
      assertEquals(await agentFetch("openai"), SECRETS.first);
      await capture(page, "credentials-agent");
    },
  );

  await t.step(
    "replace: the row's link names the service in the form; the agent then fetches the new value",
    async () => {
      await page.getByRole("link", { name: "Replace openai" }).click();
      await page.waitForURL((u) => u.searchParams.get("replace") === "openai");
      assertEquals(await page.getByLabel("Service").inputValue(), "openai");
      await storeThroughPage(page, null, SECRETS.second);
      assertEquals(await rows(page), [["openai", "1", `${SECRETS.second.length} bytes`]]);
      assertEquals(await agentFetch("openai"), SECRETS.second);
    },
  );

  await t.step(
    "delete asks first: cancel keeps it, confirm deletes it (page and API)",
    async () => {
      const dialog = page.getByRole("dialog");
      await page.getByRole("button", { name: "Delete openai" }).click();
      await dialog.waitFor();
      assertMatch(await dialog.textContent() ?? "", /cannot be undone/);
      await capture(page, "credentials-delete-dialog");
      await dialog.getByRole("button", { name: "Cancel" }).click();
      await dialog.waitFor({ state: "hidden" });
      assertEquals((await rows(page)).length, 1, "cancel deletes nothing");
      assertEquals(await agentFetch("openai"), SECRETS.second);

      await page.getByRole("button", { name: "Delete openai" }).click();
      await Promise.all([
        page.waitForURL((u) => u.searchParams.get("deleted") === "openai"),
        dialog.getByRole("button", { name: "Delete openai" }).click(),
      ]);
      await page.getByRole("status").filter({ hasText: "Deleted openai." }).waitFor();
      await page.getByText("No credentials stored.").waitFor();
      assertEquals((await operatorApi.listCredentials(agent.actorOmni)).items, []);
      const refused = await agentFetch("openai").then(() => null, (e) => e);
      assert(refused instanceof ApiCallError && refused.code === "not_found", String(refused));
      await capture(page, "credentials-deleted");
    },
  );

  // Kept for the second operator to try to reach.
  await operatorApi.mintCap("cred-store", {
    operator_omni: operator.omni,
    actor_omni: agent.actorOmni,
    service: "github",
  }).then(({ cap }) => operatorApi.storeCredential(cap, new TextEncoder().encode(SECRETS.first)));

  await t.step(
    "a second operator: the agent's page is 404, its own list is empty, the API refuses",
    async () => {
      const other = privateKeyToAccount(generatePrivateKey());
      const otherPage = await browser.newPage();
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(`${url}/login`);
      await injectWallet(otherPage, { account: other, chainId: CHAIN_ID, serviceUrl: url });
      await otherPage.goto(`${url}/login`);
      await Promise.all([
        otherPage.waitForURL(`${url}/`),
        otherPage.getByRole("button", { name: "Connect wallet" }).click(),
      ]);
      const res = await otherPage.goto(`${url}/agents/mail-bot/credentials`);
      assertEquals(res?.status(), 404);
      await otherPage.getByRole("heading", { name: "No agent mail-bot" }).waitFor();
      assert(!(await otherPage.content()).includes("github"), "no service name of the first");
      await capture(otherPage, "credentials-other-operator-404");
      await otherPage.goto(`${url}/credentials`);
      await otherPage.getByText("No credentials stored.").waitFor();
      assertEquals(await otherPage.locator("table.creds").count(), 0);

      const otherJwt = (await browser.cookies()).find((c) => c.name === "agentkeys_session")!.value;
      const otherApi = api.withSession(otherJwt);
      for (const actor of [agent.actorOmni, operator.omni]) {
        const err = await otherApi.listCredentials(actor).then(() => null, (e) => e);
        assert(err instanceof ApiCallError && err.status === 403, String(err));
        assertEquals(err.code, "other_operator");
        for (const kind of ["cred-teardown", "cred-store", "cred-fetch"] as const) {
          const mint = await otherApi.mintCap(kind, {
            operator_omni: operator.omni,
            actor_omni: actor,
            service: "github",
          }).then(() => null, (e) => e);
          assert(mint instanceof ApiCallError && mint.status === 403, `${kind}: ${mint}`);
        }
      }
      // The browser's own session cookie gets the same answer from the API.
      const status = await otherPage.evaluate(
        async (actor) => (await fetch(`/v1/cred/list?actor_omni=${actor}`)).status,
        agent.actorOmni,
      );
      assertEquals(status, 403);
      assertEquals(await agentFetch("github"), SECRETS.first, "the first operator's secret stays");
      await otherPage.close();
    },
  );

  await t.step("no secret in any URL the browser requested", () => {
    assert(requested.length > 10, `${requested.length} requests seen`);
    for (const u of requested) {
      for (const secret of Object.values(SECRETS)) {
        assert(!u.includes(secret) && !u.includes(encodeURIComponent(btoa(secret))), u);
      }
    }
  });
  await page.close();
});
