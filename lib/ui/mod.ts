/**
 * Server-side rendering helpers of the web console. Islands without Fresh: {@linkcode Island}
 * renders an island in place inside a marker that `islands/_client.ts` hydrates (see
 * `_island.tsx` for the conventions).
 *
 * ```tsx
 * import { Island } from "../../lib/ui/mod.ts";
 * <Island component={SignIn} props={{ chainId: 31337, rpcUrl: null, claimOpen: false }} />
 * ```
 *
 * @module
 */

export { Island } from "./_island.tsx";
