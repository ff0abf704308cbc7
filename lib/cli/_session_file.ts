/**
 * Where the CLI keeps its operator session between commands: `<home>/session.json`, 0600,
 * written atomically. Only the session JWT and the service URL — never a private key.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../fsutil/mod.ts";

export interface SavedSession {
  url: string;
  session_jwt: string;
  operator_omni: string;
  address: string;
}

export async function saveSession(home: string, session: SavedSession): Promise<void> {
  await Deno.mkdir(home, { recursive: true, mode: 0o700 });
  await writeFileAtomic(
    join(home, "session.json"),
    new TextEncoder().encode(JSON.stringify(session, null, 2)),
    {
      mode: 0o600,
    },
  );
}

export async function loadSession(home: string): Promise<SavedSession | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(home, "session.json")));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}
