/**
 * The epoch lifecycle (ARCHITECTURE §14, issue 12): a scheduler in the service that rotates K3 on
 * a cadence and after agent revocations (coalesced), runs an eager re-encryption job after a
 * delay, destroys the retiring epoch once a global census proves it empty (never forced), and
 * sweeps idle memory and inbound blobs. Resumable (its state in KV), one acting process (a KV
 * lease), every step audited; plus the forward-secrecy window. The only import path other
 * components use.
 *
 * ```ts
 * import { LifecycleScheduler } from "./lib/lifecycle/mod.ts";
 * const scheduler = new LifecycleScheduler({ policy: config.lifecycle, admin, runner, kv, audit });
 * scheduler.watchRevocations(chain.client);
 * scheduler.start();
 * ```
 *
 * @module
 */

export { LifecycleScheduler, type LifecycleStatus } from "./_scheduler.ts";
export { type ForwardSecrecyWindow, forwardSecrecyWindow } from "./_plan.ts";
export { LifecycleStore } from "./_store.ts";
export { TouchingStore, TtlSweeper } from "./_sweep.ts";
