/**
 * The console's page shell: document head (stylesheet, icon, the islands' entry), the top bar
 * with the signed-in operator and "Sign out", and `<main>`. Everything a page shows is rendered
 * here on the server; the one script is the module that hydrates islands (no inline script: the
 * Content-Security-Policy of routes/console.tsx forbids it).
 *
 * @module
 */

import type { ComponentChildren, VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import { Island } from "../../lib/ui/mod.ts";
import Logout from "../../islands/Logout.tsx";

/** The browser entry built by `deno task build` (scripts/build.ts). */
export const CLIENT_ENTRY = "/static/build/_client.js";

/** Who is signed in, as the top bar shows it. */
export interface Viewer {
  address: string;
  isAdmin: boolean;
}

/** The console's sections, in the navigation's order. */
export const NAV: { href: string; text: string }[] = [
  { href: "/", text: "Overview" },
  { href: "/agents", text: "Agents" },
  { href: "/credentials", text: "Credentials" },
  { href: "/keyrings", text: "Keyrings" },
  { href: "/epochs", text: "Epochs & jobs" },
  { href: "/migrations", text: "Migrations" },
  { href: "/audit", text: "Audit" },
];

export function App(
  { title, viewer, current, children }: {
    title: string;
    viewer?: Viewer;
    /** The NAV entry this page belongs to (`aria-current`); the overview's when absent. */
    current?: string;
    children: ComponentChildren;
  },
): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${title} · AgentKeys`}</title>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/console.css" />
        <script type="module" src={CLIENT_ENTRY}></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="topbar">
          <span class="brand">
            <img src="/static/favicon.svg" alt="" width="24" height="24" /> AgentKeys
          </span>
          {viewer && (
            <nav aria-label="Console" class="sections">
              <ul>
                {NAV.map((n) => (
                  <li key={n.href}>
                    <a
                      href={n.href}
                      aria-current={(current ?? "/") === n.href ? "page" : undefined}
                    >
                      {n.text}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          {viewer && (
            <nav aria-label="Account" class="account">
              <span class="who">
                <span class="visually-hidden">Signed in as</span>
                <code title={viewer.address}>{shortAddress(viewer.address)}</code>
                <span class={viewer.isAdmin ? "badge admin" : "badge"}>
                  {viewer.isAdmin ? "admin" : "operator"}
                </span>
              </span>
              <Island component={Logout} props={{}} />
            </nav>
          )}
        </header>
        <main id="main" tabindex={-1}>{children}</main>
      </body>
    </html>
  );
}

/** `0x1234…abcd`. */
export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** The HTML document of a page. */
export function renderPage(page: VNode): string {
  return "<!DOCTYPE html>" + renderToString(page);
}
