/**
 * "Connect wallet" on `/login`: SIWE with the injected wallet (EIP-1193). The message the service
 * composed is checked before the wallet is asked to sign it (lib/client's `checkSiweMessage`); the verify
 * answer sets the HttpOnly session cookie, which this island never sees. A wallet on another
 * chain is offered a switch (and, if it does not know the chain, the embedded chain's proxy to
 * add). On a fresh install the one-time admin claim token may be given with the sign-in.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { checkSiweMessage } from "../lib/client/mod.ts";
import { postJson } from "./_api.ts";
import {
  chainHex,
  injectedWallet,
  signInFailure,
  UNRECOGNIZED_CHAIN,
  utf8Hex,
  walletErrorCode,
} from "./_wallet.ts";

export interface SignInProps extends Record<string, unknown> {
  /** The chain the service's contracts live on; SIWE messages name it. */
  chainId: number;
  /** The embedded chain's JSON-RPC proxy (for `wallet_addEthereumChain`); null on an external chain. */
  rpcUrl: string | null;
  /** Whether this install's admin claim token is still unclaimed. */
  claimOpen: boolean;
}

type Notice = { kind: "error" | "info"; text: string } | null;

export default function SignIn({ chainId, rpcUrl, claimOpen }: SignInProps) {
  const busy = useSignal(false);
  const notice = useSignal<Notice>(null);
  const wrongChain = useSignal<number | null>(null);
  const token = useSignal("");

  async function signIn() {
    const wallet = injectedWallet();
    if (!wallet) {
      notice.value = {
        kind: "error",
        text: "No wallet found in this browser. Install or enable an Ethereum wallet extension " +
          "(one that provides window.ethereum), then reload this page.",
      };
      return;
    }
    busy.value = true;
    notice.value = { kind: "info", text: "Waiting for your wallet…" };
    try {
      const accounts = await wallet.request({ method: "eth_requestAccounts" }) as string[];
      const address = accounts?.[0];
      if (!address) throw new Error("the wallet shared no account");
      const current = Number.parseInt(
        String(await wallet.request({ method: "eth_chainId" })),
        16,
      );
      if (current !== chainId) {
        wrongChain.value = current;
        notice.value = {
          kind: "error",
          text: `Your wallet is on chain ${current}, but this service signs in on chain ` +
            `${chainId}. Switch your wallet to chain ${chainId} to continue.`,
        };
        return;
      }
      wrongChain.value = null;
      const start = await postJson<{ request_id: string; message: string }>(
        "/v1/auth/siwe/start",
        { address, chain_id: chainId },
      );
      checkSiweMessage(start.message, { url: location.origin, chainId, address });
      notice.value = { kind: "info", text: "Sign the message in your wallet…" };
      const signature = await wallet.request({
        method: "personal_sign",
        params: [utf8Hex(start.message), address],
      });
      await postJson("/v1/auth/siwe/verify", { request_id: start.request_id, signature });
      const claim = token.value.trim();
      if (claim) {
        try {
          await postJson("/v1/auth/claim-admin", { token: claim });
        } catch (err) {
          notice.value = {
            kind: "error",
            text: `You are signed in, but the admin claim failed: ${(err as Error).message} ` +
              "Continue to the overview, or sign in again with the right token.",
          };
          return;
        }
      }
      notice.value = { kind: "info", text: "Signed in. Opening the overview…" };
      location.assign("/");
    } catch (err) {
      notice.value = { kind: "error", text: signInFailure(err) };
    } finally {
      busy.value = false;
    }
  }

  async function switchChain() {
    const wallet = injectedWallet();
    if (!wallet) return;
    busy.value = true;
    try {
      try {
        await wallet.request({
          method: "wallet_switchEthereumChain",
          params: [{ chainId: chainHex(chainId) }],
        });
      } catch (err) {
        if (walletErrorCode(err) !== UNRECOGNIZED_CHAIN || rpcUrl === null) throw err;
        await wallet.request({
          method: "wallet_addEthereumChain",
          params: [{
            chainId: chainHex(chainId),
            chainName: `AgentKeys chain ${chainId}`,
            rpcUrls: [rpcUrl],
            nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
          }],
        });
      }
      wrongChain.value = null;
    } catch (err) {
      busy.value = false;
      notice.value = { kind: "error", text: signInFailure(err) };
      return;
    }
    await signIn();
  }

  return (
    <form
      class="stack"
      aria-describedby="signin-help"
      onSubmit={(e) => {
        e.preventDefault();
        if (!busy.value) signIn();
      }}
    >
      <p id="signin-help">
        Sign in with your Ethereum wallet. It will ask you to sign a message naming this service;
        nothing is sent on chain.
      </p>
      {claimOpen && (
        <div class="field">
          <label for="claim-token">Admin claim token (optional)</label>
          <input
            id="claim-token"
            name="claim-token"
            type="password"
            autocomplete="off"
            spellcheck={false}
            aria-describedby="claim-help"
            value={token.value}
            onInput={(e) => token.value = (e.target as HTMLInputElement).value}
          />
          <p id="claim-help" class="hint">
            This install has no admin yet. The token was printed when the service first started (and
            is kept in <code>admin-claim.token</code>{" "}
            in its data directory). Whoever presents it becomes the admin, once.
          </p>
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy.value}>Connect wallet</button>
        {wrongChain.value !== null && (
          <button type="button" disabled={busy.value} onClick={switchChain}>
            Switch wallet to chain {chainId}
          </button>
        )}
      </div>
      <p
        class={notice.value?.kind === "error" ? "notice error" : "notice"}
        role={notice.value?.kind === "error" ? "alert" : "status"}
        aria-live="polite"
      >
        {notice.value?.text ?? ""}
      </p>
    </form>
  );
}
