/**
 * Stand-ins for the worker's required dependencies in tests that have no chain. Kept here, not in
 * `lib/`, so that production code has no no-op authority to pass by mistake.
 *
 * @module
 */

import type { CapAuthority } from "../../lib/worker/_vault.ts";

/**
 * Accepts every verified cap: for tests without a chain, where no agent can be revoked. Tests of
 * revocation pass a `ChainCapAuthority` over a fake identity instead.
 */
export const NO_CHAIN_AUTHORITY: CapAuthority = Object.freeze({
  recheck: () => Promise.resolve(),
});
