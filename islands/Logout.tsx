/**
 * "Sign out": revokes the session on the service (`POST /v1/auth/logout`, which also clears the
 * HttpOnly cookie) and goes to the sign-in page.
 *
 * @module
 */

import { useSignal } from "@preact/signals";
import { postJson } from "./_api.ts";

export default function Logout(_props: Record<string, unknown>) {
  const error = useSignal("");
  async function logout() {
    try {
      await postJson("/v1/auth/logout");
      location.assign("/login");
    } catch (err) {
      error.value = `Sign-out failed: ${(err as Error).message}`;
    }
  }
  return (
    <span class="logout">
      <button type="button" onClick={logout}>Sign out</button>
      {error.value && <span role="alert" class="notice error">{error.value}</span>}
    </span>
  );
}
