/**
 * The islands convention (lib/ui/_island.tsx): every `islands/<Name>.tsx` default-exports the
 * component `<Name>` and is registered in the browser entry; the marker carries escaped JSON.
 */

import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { assert, assertEquals, assertThrows } from "../support/assert.ts";
import { ISLANDS } from "../../islands/_client.ts";
import { Island } from "../../lib/ui/mod.ts";

const DIR = new URL("../../islands/", import.meta.url);

Deno.test("islands: each islands/<Name>.tsx exports <Name> by default and the browser entry lists it", async () => {
  const files: string[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (entry.isFile && entry.name.endsWith(".tsx") && !entry.name.startsWith("_")) {
      files.push(entry.name.slice(0, -".tsx".length));
    }
  }
  assert(files.length >= 3, files.join());
  assertEquals(Object.keys(ISLANDS).sort(), files.sort(), "the entry registers every island");
  for (const name of files) {
    const mod = await import(new URL(`${name}.tsx`, DIR).href);
    assertEquals(mod.default.name, name, `islands/${name}.tsx`);
  }
});

Deno.test("islands: the marker names the island and carries its props as escaped JSON", () => {
  function Greeting({ who }: { who: string }) {
    return h("p", null, `hello ${who}`);
  }
  const html = renderToString(
    Island({ component: Greeting, props: { who: `"><script>alert(1)</script>` } }),
  );
  assert(!html.includes("<script>"), html);
  const props = /data-props="([^"]*)"/.exec(html)?.[1];
  assert(props, html);
  const decoded = props.replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
  assertEquals(JSON.parse(decoded), { who: `"><script>alert(1)</script>` });
  assert(html.startsWith('<div data-island="Greeting"'), html);

  const anonymous = (() => h("p", null)) as unknown as typeof Greeting;
  Object.defineProperty(anonymous, "name", { value: "" });
  assertThrows(() => Island({ component: anonymous, props: { who: "x" } }), TypeError);
});
