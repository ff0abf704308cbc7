/// <reference lib="dom" />
/**
 * The console in a real Chromium against `deno task start` (embedded chain, admin claim token):
 * sign-in with an injected wallet (keyboard only, with the admin claim), a rejected signature, a
 * wrong chain (switch, then add the chain through the service's proxy), no wallet, logout, the
 * overview and its census, a wallet transaction through `/v1/chain/rpc`; axe-core finds no
 * serious or critical violation on any page; the sign-in page's JavaScript stays under 80 KiB
 * gzip. Screenshots of every page go to tests/out/.
 */

import AxeBuilder from "@axe-core/playwright";
import type { BrowserContext, Page } from "playwright-core";
import { encodeFunctionData, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { tempDir } from "../support/tmp.ts";
import { startServiceProcess } from "../support/service_process.ts";
import { injectWallet, launchBrowser, screenshot } from "../support/browser.ts";
import { agentRegistryAbi } from "../../lib/chain/artifacts.ts";
import { AgentKeysClient } from "../../lib/client/mod.ts";
import { deviceKeyHash, signDevicePop } from "../../lib/identity/mod.ts";

const CHAIN_ID = 31337;
const LOGIN_JS_MAX_GZIP = 80 * 1024;

/** Every axe run, for the closing note. */
const axeRuns: { page: string; violations: string[] }[] = [];

async function assertAccessible(page: Page, name: string) {
  const result = await new AxeBuilder({ page }).analyze();
  const grave = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  axeRuns.push({ page: name, violations: result.violations.map((v) => `${v.id} (${v.impact})`) });
  assertEquals(
    grave.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe on ${name}`,
  );
}

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies()).find((c) => c.name === "agentkeys_session");
}

async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

Deno.test("console in Chromium: sign-in paths, admin claim, overview, census, wallet transaction, logout; axe clean", async (t) => {
  await using dir = await tempDir();
  const dataDir = join(dir.path, "data");
  await using service = await startServiceProcess({ AGENTKEYS_DATA_DIR: dataDir });
  const url = service.url;
  await using browser = await launchBrowser();

  await t.step(
    "no wallet: the sign-in page says so; its JavaScript is under 80 KiB gzip",
    async () => {
      const page = await browser.newPage();
      const scripts: Promise<number>[] = [];
      page.on("response", (res) => {
        if (res.url().endsWith(".js")) scripts.push(res.body().then(gzipSize));
      });
      await page.goto(`${url}/login`);
      await page.waitForLoadState("networkidle");
      const sizes = await Promise.all(scripts);
      const total = sizes.reduce((a, b) => a + b, 0);
      console.log(`sign-in page: ${sizes.length} scripts, ${(total / 1024).toFixed(1)} KiB gzip`);
      assert(sizes.length >= 2, "the entry and the SignIn island load");
      assert(total <= LOGIN_JS_MAX_GZIP, `${total} bytes gzip`);
      await screenshot(page, "login");
      await assertAccessible(page, "/login");

      await page.getByRole("button", { name: "Connect wallet" }).click();
      await page.getByRole("alert").filter({ hasText: "No wallet found" }).waitFor();
      await screenshot(page, "login-no-wallet");
      await assertAccessible(page, "/login (no wallet)");
      await page.close();
    },
  );

  await t.step("a rejected signature: a message, and no session cookie", async () => {
    const page = await browser.newPage();
    const wallet = await injectWallet(page, {
      account: privateKeyToAccount(generatePrivateKey()),
      chainId: CHAIN_ID,
      reject: ["personal_sign"],
      serviceUrl: url,
    });
    await page.goto(`${url}/login`);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByRole("alert").filter({ hasText: "You declined the request" }).waitFor();
    assert(wallet.calls.some((c) => c.method === "personal_sign"), "the wallet was asked");
    assertEquals(await sessionCookie(browser), undefined);
    assertEquals(new URL(page.url()).pathname, "/login");
    await screenshot(page, "login-rejected");
    await assertAccessible(page, "/login (rejected)");
    await page.close();
  });

  await t.step(
    "a wrong chain: the message offers a switch; the unknown chain is added through the proxy; then signed in; logout",
    async () => {
      const page = await browser.newPage();
      const wallet = await injectWallet(page, {
        account: privateKeyToAccount(generatePrivateKey()),
        chainId: 1,
        serviceUrl: url,
      });
      await page.goto(`${url}/login`);
      await page.getByRole("button", { name: "Connect wallet" }).click();
      await page.getByRole("alert").filter({ hasText: "Your wallet is on chain 1" }).waitFor();
      assert(!wallet.calls.some((c) => c.method === "personal_sign"), "nothing to sign yet");
      const switchButton = page.getByRole("button", { name: `Switch wallet to chain ${CHAIN_ID}` });
      await switchButton.waitFor();
      await screenshot(page, "login-wrong-chain");
      await assertAccessible(page, "/login (wrong chain)");

      await switchButton.click();
      await page.waitForURL(`${url}/`);
      assertEquals(wallet.chainId, CHAIN_ID);
      assertEquals(wallet.added.length, 1, "4902: the chain was added");
      assertEquals(wallet.added[0].rpcUrls, [`${url}/v1/chain/rpc`]);
      assertEquals(wallet.added[0].chainId, `0x${CHAIN_ID.toString(16)}`);
      assert(await sessionCookie(browser), "signed in");
      await page.locator(".badge").filter({ hasText: "operator" }).waitFor();
      await screenshot(page, "overview-operator");
      await assertAccessible(page, "/ (operator)");

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(`${url}/login`);
      assertEquals(await sessionCookie(browser), undefined, "the cookie is cleared");
      await page.goto(`${url}/`);
      assertEquals(new URL(page.url()).pathname, "/login", "signed out: / sends to /login");
      await page.close();
    },
  );

  const admin = privateKeyToAccount(generatePrivateKey());
  const page = await browser.newPage();
  await injectWallet(page, { account: admin, chainId: CHAIN_ID, serviceUrl: url });

  await t.step(
    "keyboard only: the admin claim token, Tab to Connect wallet, Enter; an HttpOnly SameSite=Strict cookie",
    async () => {
      const token = (await Deno.readTextFile(join(dataDir, "admin-claim.token"))).trim();
      await page.goto(`${url}/login`);
      await page.locator('[data-island="SignIn"] form').waitFor();
      const focused = () =>
        page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          return el ? `${el.tagName.toLowerCase()}#${el.id}:${el.textContent?.trim()}` : "";
        });
      // Hydrated once the button is enabled by the island's render (server HTML has it too).
      await page.waitForFunction(() => document.querySelector("script[type=module]") !== null);
      let steps = 0;
      while (!(await focused()).startsWith("input#claim-token") && steps++ < 10) {
        await page.keyboard.press("Tab");
      }
      assertMatch(await focused(), /^input#claim-token/);
      await page.keyboard.type(token);
      await page.keyboard.press("Tab");
      assertEquals(await focused(), "button#:Connect wallet");
      const outline = await page.evaluate(() =>
        getComputedStyle(document.activeElement as Element).outlineStyle
      );
      assertEquals(outline, "solid", "a visible focus ring");
      await page.keyboard.press("Enter");
      await page.waitForURL(`${url}/`);
      const cookie = await sessionCookie(browser);
      assert(cookie, "the session cookie is set");
      assertEquals([cookie.httpOnly, cookie.sameSite], [true, "Strict"]);
      assertEquals(
        await page.evaluate(() => document.cookie.includes("agentkeys_session")),
        false,
        "scripts cannot read it",
      );
      await page.locator(".badge.admin").waitFor();
      assertEquals(await page.locator(".active-epoch").textContent(), "1");
      await Deno.stat(join(dataDir, "admin-claim.token")).then(
        () => assert(false, "the token is erased once claimed"),
        () => {},
      );
      await screenshot(page, "overview");
      await assertAccessible(page, "/ (admin, no census)");
    },
  );

  await t.step("take census: the overview shows the census time and the counts", async () => {
    await page.getByRole("button", { name: "Take census" }).click();
    await page.locator("time").first().waitFor();
    await page.waitForFunction(() => !document.body.textContent?.includes("No census yet"));
    assertMatch(await page.locator("table.epochs tbody tr").first().textContent() ?? "", /^1/);
    assertEquals(await page.locator("table.epochs td.num").first().textContent(), "0");
    await screenshot(page, "overview-census");
    await assertAccessible(page, "/ (admin, census)");
  });

  await t.step(
    "the injected wallet sends a transaction through the service's proxy (an agent registration)",
    async () => {
      const me = await page.evaluate(async () => (await fetch("/v1/operators/me")).json());
      const chain = await page.evaluate(async () => (await fetch("/v1/chain")).json());
      const faucet = await page.evaluate(async (address) =>
        (await fetch("/v1/dev/faucet", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ address }),
        })).status, admin.address);
      assertEquals(faucet, 200);
      const device = privateKeyToAccount(generatePrivateKey());
      const registry = chain.contracts.AgentRegistry.address as Hex;
      const pop = await signDevicePop(device, {
        chainId: CHAIN_ID,
        registry,
        operatorOmni: me.operator_omni,
        label: "browser-bot",
        generation: 0,
      });
      const data = encodeFunctionData({
        abi: agentRegistryAbi,
        functionName: "registerAgent",
        args: ["browser-bot", 0, deviceKeyHash(device.address), pop],
      });
      const hash = await page.evaluate(
        ([from, to, data]) =>
          (globalThis as unknown as {
            ethereum: { request(a: { method: string; params: unknown[] }): Promise<string> };
          }).ethereum.request({ method: "eth_sendTransaction", params: [{ from, to, data }] }),
        [admin.address, registry, data],
      );
      assertMatch(hash, /^0x[0-9a-f]{64}$/);
      const after = await page.evaluate(async () => (await fetch("/v1/operators/me")).json());
      assertEquals(after.agents.map((a: { label: string }) => a.label), ["browser-bot"]);
    },
  );
  await t.step(
    "after a rotation: bars per epoch, and a warning for the retiring epoch that still holds blobs",
    async () => {
      const jwt = (await sessionCookie(browser))!.value;
      const api = new AgentKeysClient(url).withSession(jwt);
      const { operator_omni } = await api.me();
      const store = async (service: string) => {
        const target = { operator_omni, actor_omni: operator_omni, service };
        const { cap } = await api.mintCap("cred-store", target);
        await api.storeCredential(cap, new TextEncoder().encode(`secret-${service}`));
      };
      for (const service of ["openai", "github", "slack"]) await store(service);
      const rotated = await page.evaluate(async () =>
        (await fetch("/v1/epochs/rotate", { method: "POST" })).json()
      );
      assertEquals([rotated.active, rotated.previous], [2, 1]);
      await store("anthropic");
      await page.reload();
      await page.getByRole("button", { name: "Take census" }).click();
      const warning = page.locator(".warning.retiring_with_blobs");
      await warning.waitFor();
      assertMatch(
        await warning.textContent() ?? "",
        /^Epoch 1 is retiring but still holds 3 blobs/,
      );
      const rows = await page.locator("table.epochs tbody tr").allTextContents();
      assertEquals(rows.length, 2);
      assertMatch(rows[0], /^2active.*1$/);
      assertMatch(rows[1], /^1retiring.*3$/);
      assertEquals(await page.locator(".active-epoch").textContent(), "2");
      await screenshot(page, "overview-rotated");
      await assertAccessible(page, "/ (admin, rotated, warning)");
    },
  );
  await page.close();
  console.log("axe:", JSON.stringify(axeRuns));
});
