/**
 * What `deno task start` says about admins at start. The claim token's value appears only in the
 * start that created it; later starts point at the file instead.
 *
 * @module
 */

import type { AdminClaimStatus } from "../broker/mod.ts";

/** The CLI's default service URL; the printed command adds `--url` for any other. */
const CLI_DEFAULT_URL = "http://127.0.0.1:8787";

/** One line for the console: `warn` when nobody can become admin without the operator acting. */
export interface NoticeLine {
  level: "log" | "warn";
  text: string;
}

/**
 * ```ts
 * for (const { level, text } of adminClaimNotice(service.adminClaim, url)) console[level](text);
 * ```
 */
export function adminClaimNotice(status: AdminClaimStatus, url: string): NoticeLine[] {
  const urlFlag = url === CLI_DEFAULT_URL ? "" : ` --url ${url}`;
  const command = (token: string) =>
    `npx -y deno@2.9.6 task cli login --claim-admin ${token}${urlFlag}`;
  switch (status.state) {
    case "configured":
      return [{ level: "log", text: `admins: ${status.admins.join(", ")} (AGENTKEYS_ADMINS)` }];
    case "created":
      return [
        {
          level: "log",
          text: "admin: no AGENTKEYS_ADMINS; this is the one-time admin claim token",
        },
        { level: "log", text: `admin claim token: ${status.token}` },
        {
          level: "log",
          text: `become admin (with AGENTKEYS_OPERATOR_KEY set): ${command(status.token)}`,
        },
        { level: "log", text: `it is shown only now; until claimed it is kept in ${status.path}` },
      ];
    case "pending":
      return [{
        level: "log",
        text: `admin: unclaimed admin claim token in ${status.path}; become admin with: ` +
          command(`"$(cat ${status.path})"`),
      }];
    case "claimed":
      return status.recorded
        ? [{ level: "log", text: `admin: ${status.address} (claimed ${status.claimedAt})` }]
        : [{
          level: "warn",
          text: `admin: ${status.address} claimed admin at ${status.claimedAt}, but state.kv no ` +
            "longer records it: nobody is admin; set AGENTKEYS_ADMINS to name the admins",
        }];
    case "lost":
      return [{
        level: "warn",
        text: `admin: the admin claim token ${status.path} was removed unclaimed: nobody is ` +
          "admin; set AGENTKEYS_ADMINS to name the admins",
      }];
    case "none":
      return [];
  }
}
