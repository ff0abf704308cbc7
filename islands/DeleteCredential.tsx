/**
 * "Delete" for one credential, behind a confirmation dialog (a modal `<dialog>`: focus moves
 * into it and Escape cancels). Confirming mints a `cred-teardown` cap, posts
 * `/v1/cred/teardown`, and reloads the page with `?deleted=<service>`.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { deleteCredential } from "./_cred.ts";

export interface DeleteCredentialProps extends Record<string, unknown> {
  operatorOmni: string;
  actorOmni: string;
  service: string;
  /** Whose credential, as the page names the actor ("You", "mail-bot (generation 0)"). */
  owner: string;
}

export default function DeleteCredential(props: DeleteCredentialProps) {
  const busy = useSignal(false);
  const error = useSignal("");
  const dialog = useRef<HTMLDialogElement>(null);
  const id = `delete-${props.actorOmni.slice(2, 10)}-${props.service}`;

  async function confirm() {
    busy.value = true;
    error.value = "";
    try {
      await deleteCredential(props);
      location.assign(`${location.pathname}?deleted=${encodeURIComponent(props.service)}`);
    } catch (err) {
      error.value = `Not deleted: ${(err as Error).message}`;
      busy.value = false;
    }
  }

  return (
    <span class="delete">
      <button
        type="button"
        class="danger"
        aria-label={`Delete ${props.service}`}
        onClick={() => dialog.current?.showModal()}
      >
        Delete
      </button>
      <dialog ref={dialog} class="confirm" aria-labelledby={`${id}-title`}>
        <h3 id={`${id}-title`}>Delete {props.service}?</h3>
        <p>
          The secret of {props.owner} for {props.service}{" "}
          is erased from the vault; agents can no longer fetch it. This cannot be undone.
        </p>
        <div class="actions">
          <button type="button" class="danger" onClick={confirm} disabled={busy.value}>
            {busy.value ? "Deleting…" : `Delete ${props.service}`}
          </button>
          <button type="button" onClick={() => dialog.current?.close()} disabled={busy.value}>
            Cancel
          </button>
        </div>
        <p class="notice error" role="alert">{error.value}</p>
      </dialog>
    </span>
  );
}
