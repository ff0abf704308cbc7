/**
 * "Take census" on the overview: counts the blobs per epoch now (`POST /v1/epochs/census`;
 * admins count the whole store, operators their own actors), then reloads the page, whose
 * server-rendered chart shows the new counts.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { postJson } from "./_api.ts";

export interface TakeCensusProps extends Record<string, unknown> {
  /** Admins take a global census; operators one of their own actors. */
  scope: "global" | "operator";
}

export default function TakeCensus({ scope }: TakeCensusProps) {
  const busy = useSignal(false);
  const error = useSignal("");
  async function take() {
    busy.value = true;
    error.value = "";
    try {
      await postJson("/v1/epochs/census", { scope });
      location.reload();
    } catch (err) {
      error.value = `The census failed: ${(err as Error).message}`;
      busy.value = false;
    }
  }
  return (
    <div class="actions">
      <button type="button" onClick={take} disabled={busy.value} aria-busy={busy.value}>
        {busy.value ? "Counting blobs…" : "Take census"}
      </button>
      <p class="notice error" role="alert">{error.value}</p>
    </div>
  );
}
