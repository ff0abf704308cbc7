/**
 * Islands without Fresh (ARCHITECTURE §10): the server renders an island's component in place,
 * wrapped in a marker that names it and carries its props as JSON; the browser entry
 * (`islands/_client.ts`) finds the markers, imports each island's module lazily and hydrates it
 * with the same props. So a page is complete HTML before any script runs, and no inline script
 * is needed (the Content-Security-Policy forbids them).
 *
 * Conventions (Fresh's): one island per file `islands/<Name>.tsx` whose default export is the
 * component `<Name>`; props are JSON-serializable (no functions, dates or bigints); files starting
 * with `_` in `islands/` are helpers, not islands. `tests/console/islands.test.ts` checks that
 * every island is registered in the browser entry.
 *
 * ```tsx
 * import SignIn from "../../islands/SignIn.tsx";
 * <Island component={SignIn} props={{ chainId: 31337 }} />
 * // <div data-island="SignIn" data-props="{&quot;chainId&quot;:31337}">…SignIn's HTML…</div>
 * ```
 *
 * @module
 */

import type { ComponentType, VNode } from "preact";

/** The attribute naming the island (`islands/<name>.tsx`). */
export const ISLAND_ATTRIBUTE = "data-island";
/** The attribute carrying the island's props as JSON. */
export const PROPS_ATTRIBUTE = "data-props";

/**
 * Renders `component` with `props` inside an island marker. The island's name is the
 * component's function name, which is the file name by convention.
 */
export function Island<P extends Record<string, unknown>>(
  { component: Component, props }: { component: ComponentType<P>; props: P },
): VNode {
  const name = Component.displayName ?? Component.name;
  if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) {
    throw new TypeError(`an island's component needs a PascalCase name, got "${name}"`);
  }
  const attributes = { [ISLAND_ATTRIBUTE]: name, [PROPS_ATTRIBUTE]: JSON.stringify(props) };
  return (
    <div {...attributes} class="island">
      <Component {...props} />
    </div>
  );
}
