/**
 * "Store or replace a secret" for one actor: the service name and a write-only secret field
 * (`type=password`, no autocomplete, never given a value by the page). On submit the island
 * mints a `cred-store` cap and posts the value to `/v1/cred/store`, clears the field whatever
 * happened, and on success reloads the page with `?stored=<service>` (the name only).
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { isValidName } from "../lib/identity/mod.ts";
import { storeSecret } from "./_cred.ts";

export interface StoreCredentialProps extends Record<string, unknown> {
  operatorOmni: string;
  actorOmni: string;
  /** Prefix of the element ids (one form per actor on a page). */
  idPrefix: string;
  /** The service the form starts with ("Replace" links name one). */
  service: string;
  /** Services the agent's scope allows, offered as suggestions. */
  suggestions: string[];
}

export default function StoreCredential(props: StoreCredentialProps) {
  const service = useSignal(props.service);
  const busy = useSignal(false);
  const error = useSignal("");
  const secretRef = useRef<HTMLInputElement>(null);
  const id = props.idPrefix;

  async function submit(e: Event) {
    e.preventDefault();
    const input = secretRef.current;
    const secret = input?.value ?? "";
    // The value lives only in the field until it is sent, and not after.
    if (input) input.value = "";
    error.value = "";
    const name = service.value.trim();
    if (!isValidName(name)) {
      error.value = "The service name must be lowercase letters, digits, '.', '_' or '-' " +
        "(at most 64, starting with a letter or digit).";
      return;
    }
    if (secret === "") {
      error.value = "Enter the secret to store.";
      return;
    }
    busy.value = true;
    try {
      await storeSecret(
        { operatorOmni: props.operatorOmni, actorOmni: props.actorOmni, service: name },
        secret,
      );
      location.assign(`${location.pathname}?stored=${encodeURIComponent(name)}`);
    } catch (err) {
      error.value = `Not stored: ${(err as Error).message}`;
      busy.value = false;
    }
  }

  const invalid = error.value
    ? { "aria-invalid": true, "aria-errormessage": `${id}-notice` } as const
    : {};
  return (
    <form class="stack" onSubmit={submit} autocomplete="off">
      <div class="row">
        <div class="field">
          <label for={`${id}-service`}>Service</label>
          <input
            id={`${id}-service`}
            name="service"
            required
            autocomplete="off"
            spellcheck={false}
            list={props.suggestions.length > 0 ? `${id}-scope` : undefined}
            value={service.value}
            onInput={(e) => service.value = (e.target as HTMLInputElement).value}
            {...invalid}
          />
          {props.suggestions.length > 0 && (
            <datalist id={`${id}-scope`}>
              {props.suggestions.map((s) => <option key={s} value={s} />)}
            </datalist>
          )}
        </div>
        <div class="field">
          <label for={`${id}-secret`}>Secret</label>
          <input
            id={`${id}-secret`}
            ref={secretRef}
            type="password"
            autocomplete="off"
            spellcheck={false}
            aria-describedby={`${id}-secret-hint`}
          />
          <p class="hint" id={`${id}-secret-hint`}>
            Write-only: it is encrypted by the service and never shown again.
          </p>
        </div>
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy.value} aria-busy={busy.value}>
          {busy.value ? "Storing…" : "Store secret"}
        </button>
      </div>
      <p class="notice error" role="alert" id={`${id}-notice`}>{error.value}</p>
    </form>
  );
}
