/**
 * The browser entry: hydrates every island marker that `lib/ui/_island.tsx` rendered, importing
 * each island's module only when the page has one (code splitting gives each its own chunk).
 * Built by `deno task build` into `static/build/_client.js`.
 *
 * @module
 */

import { type ComponentType, h, hydrate } from "preact";

/** Each island takes its own props; the server rendered it with exactly those it sends here. */
type IslandModule = { default: ComponentType<never> };
type AnyProps = Record<string, unknown>;

/** Every island, by name; `tests/console/islands.test.ts` checks it lists each islands/ file. */
export const ISLANDS: Record<string, () => Promise<IslandModule>> = {
  AddAgent: () => import("./AddAgent.tsx"),
  DeleteCredential: () => import("./DeleteCredential.tsx"),
  EpochControls: () => import("./EpochControls.tsx"),
  JobLog: () => import("./JobLog.tsx"),
  KeyringMembers: () => import("./KeyringMembers.tsx"),
  Logout: () => import("./Logout.tsx"),
  ManageAgent: () => import("./ManageAgent.tsx"),
  SignIn: () => import("./SignIn.tsx"),
  StoreCredential: () => import("./StoreCredential.tsx"),
  TakeCensus: () => import("./TakeCensus.tsx"),
};

if (typeof document !== "undefined") {
  for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
    const load = ISLANDS[el.dataset.island ?? ""];
    if (!load) continue;
    const props = JSON.parse(el.dataset.props ?? "{}");
    load().then((m) => hydrate(h(m.default as ComponentType<AnyProps>, props), el));
  }
}
