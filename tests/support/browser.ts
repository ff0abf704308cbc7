/**
 * Chromium for the console's tests: Debian's `/usr/bin/chromium` (installed by
 * `scripts/chromium/ensure.sh` when missing) driven by `playwright-core`, and an injected
 * EIP-1193 wallet backed by a viem local account in the test process.
 *
 * @module
 */

import AxeBuilder from "@axe-core/playwright";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { createWalletClient, defineChain, type Hex, http, type PrivateKeyAccount } from "viem";
import { ROOT } from "./service_process.ts";
import { assertEquals } from "./assert.ts";

export const CHROMIUM = "/usr/bin/chromium";
/** Screenshots for people to look at (git-ignored). */
export const OUT_DIR = `${ROOT}tests/out`;

/** Installs chromium when missing (root), else fails naming what is missing. */
export async function ensureChromium(): Promise<void> {
  const out = await new Deno.Command(`${ROOT}scripts/chromium/ensure.sh`, { stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`chromium is not available:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A fresh headless browser profile; dispose to close it and remove the profile. */
export async function launchBrowser(): Promise<BrowserContext & AsyncDisposable> {
  await ensureChromium();
  const profile = await Deno.makeTempDir({ prefix: "agentkeys-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
  return Object.assign(context, {
    async [Symbol.asyncDispose]() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  });
}

/** How the injected wallet behaves. */
export interface WalletOptions {
  account: PrivateKeyAccount;
  /** The chain the wallet starts on (hex is derived). */
  chainId: number;
  /** Chains the wallet knows (switching to another fails with 4902 until it is added). */
  knownChains?: number[];
  /** Methods the user rejects (EIP-1193 4001). */
  reject?: string[];
  /** The service's URL: `eth_sendTransaction` goes through its proxy `/v1/chain/rpc`. */
  serviceUrl: string;
}

/** What the wallet saw, for assertions. */
export interface WalletLog {
  calls: { method: string; params: unknown[] }[];
  /** The chain the wallet is on now. */
  chainId: number;
  /** Chains added with `wallet_addEthereumChain` (their parameters). */
  added: Record<string, unknown>[];
}

/**
 * Defines `window.ethereum` in every page of `page`'s context before any script runs; requests
 * are answered in the test process by a viem local account.
 */
export async function injectWallet(page: Page, options: WalletOptions): Promise<WalletLog> {
  const log: WalletLog = { calls: [], chainId: options.chainId, added: [] };
  const known = new Set([options.chainId, ...(options.knownChains ?? [])]);
  const { account } = options;
  const fail = (code: number, message: string) => ({ error: { code, message } });

  await page.exposeFunction("__agentkeysTestWallet", async (method: string, params: unknown[]) => {
    log.calls.push({ method, params });
    if (options.reject?.includes(method)) return fail(4001, "User rejected the request.");
    try {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return { result: [account.address] };
        case "eth_chainId":
          return { result: `0x${log.chainId.toString(16)}` };
        case "personal_sign": {
          const [data, address] = params as [Hex, string];
          if (address.toLowerCase() !== account.address.toLowerCase()) {
            return fail(4100, "unknown account");
          }
          return { result: await account.signMessage({ message: { raw: data } }) };
        }
        case "wallet_switchEthereumChain": {
          const id = Number.parseInt((params[0] as { chainId: string }).chainId, 16);
          if (!known.has(id)) return fail(4902, `Unrecognized chain ID ${id}.`);
          log.chainId = id;
          return { result: null };
        }
        case "wallet_addEthereumChain": {
          const chain = params[0] as { chainId: string };
          log.added.push(chain as Record<string, unknown>);
          const id = Number.parseInt(chain.chainId, 16);
          known.add(id);
          log.chainId = id;
          return { result: null };
        }
        case "eth_sendTransaction": {
          const tx = params[0] as { to: Hex; data?: Hex; value?: Hex; gas?: Hex };
          const wallet = createWalletClient({
            account,
            chain: defineChain({
              id: log.chainId,
              name: "agentkeys",
              nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
              rpcUrls: { default: { http: [`${options.serviceUrl}/v1/chain/rpc`] } },
            }),
            transport: http(`${options.serviceUrl}/v1/chain/rpc`),
          });
          const hash = await wallet.sendTransaction({
            to: tx.to,
            data: tx.data,
            value: tx.value ? BigInt(tx.value) : undefined,
            gas: tx.gas ? BigInt(tx.gas) : undefined,
          });
          return { result: hash };
        }
        default: {
          // A real wallet answers reads (eth_call for viem's simulations, receipts) from its
          // RPC node; this one's node is the service's proxy.
          if (!method.startsWith("eth_")) {
            return fail(4200, `the test wallet does not support ${method}`);
          }
          const res = await fetch(`${options.serviceUrl}/v1/chain/rpc`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
          });
          const answer = await res.json();
          return answer.error
            ? {
              error: {
                code: answer.error.code,
                message: answer.error.message,
                data: answer.error.data,
              },
            }
            : { result: answer.result };
        }
      }
    } catch (err) {
      return fail(-32603, (err as Error).message);
    }
  });
  await page.addInitScript(() => {
    const call = (globalThis as unknown as {
      __agentkeysTestWallet(m: string, p: unknown[]): Promise<
        { result?: unknown; error?: { code: number; message: string; data?: unknown } }
      >;
    }).__agentkeysTestWallet;
    (globalThis as unknown as { ethereum: unknown }).ethereum = {
      async request({ method, params }: { method: string; params?: unknown[] }) {
        const answer = await call(method, params ?? []);
        if (answer.error) {
          // `data` carries a revert's encoded custom error, which viem decodes into its name.
          throw Object.assign(new Error(answer.error.message), {
            code: answer.error.code,
            data: answer.error.data,
          });
        }
        return answer.result;
      },
      on() {},
      removeListener() {},
    };
  });
  return log;
}

/** Saves a full-page screenshot as `tests/out/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(OUT_DIR, { recursive: true });
  const path = `${OUT_DIR}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Asserts that axe-core finds no serious or critical violation on `page` (named `name`). */
export async function assertAxeClean(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const grave = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assertEquals(
    grave.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
    [],
    `axe on ${name}`,
  );
}

/** Signs in on `/login` with the injected wallet (see {@linkcode injectWallet}); on the overview after. */
export async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/login`);
  await Promise.all([
    page.waitForURL(`${url}/`),
    page.getByRole("button", { name: "Connect wallet" }).click(),
  ]);
}
