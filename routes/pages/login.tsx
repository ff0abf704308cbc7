/**
 * `/login`: sign in with the injected wallet (the {@linkcode SignIn} island). Usable as rendered:
 * the text says what will happen and what is needed; the button works once the island hydrates.
 *
 * @module
 */

import type { VNode } from "preact";
import SignIn, { type SignInProps } from "../../islands/SignIn.tsx";
import { Island } from "../../lib/ui/mod.ts";
import { CHAIN_RPC_PATH } from "../chain.ts";
import { App } from "./_app.tsx";
import type { PageDeps } from "./_deps.ts";

export type LoginData = SignInProps;

/** The chain to sign in on, the embedded chain's proxy, and whether the admin claim is open. */
export async function load(deps: PageDeps): Promise<LoginData> {
  const embedded = deps.chain?.embedded === true;
  return {
    chainId: deps.broker.options.identity.chainId,
    rpcUrl: embedded ? `${deps.publicUrl}${CHAIN_RPC_PATH}` : null,
    claimOpen: await deps.broker.admins.claimOpen(),
  };
}

export default function LoginPage(data: LoginData): VNode {
  return (
    <App title="Sign in">
      <section class="card narrow" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to AgentKeys</h1>
        <Island component={SignIn} props={data} />
        <p class="hint">
          Prefer the terminal? <code>deno task cli login</code> signs in with a key file.
        </p>
      </section>
    </App>
  );
}
