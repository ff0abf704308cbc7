/**
 * Who is an admin: the addresses in `AGENTKEYS_ADMINS`, and the first operator to sign in to a
 * fresh install (recorded once, atomically, so two first logins cannot both win).
 *
 * @module
 */

/**
 * ```ts
 * const admins = new AdminPolicy(kv, config.admins);
 * await admins.noteLogin(address); // the very first login becomes admin
 * await admins.isAdmin(address);
 * ```
 */
export class AdminPolicy {
  constructor(private readonly kv: Deno.Kv, private readonly configured: readonly string[]) {}

  /** Records `address` as the install's first operator if nobody signed in before. */
  async noteLogin(address: string): Promise<void> {
    const key = ["admin", "first_operator"];
    await this.kv.atomic().check({ key, versionstamp: null }).set(key, address.toLowerCase())
      .commit();
  }

  async isAdmin(address: string): Promise<boolean> {
    const a = address.toLowerCase();
    if (this.configured.includes(a)) return true;
    return (await this.kv.get<string>(["admin", "first_operator"])).value === a;
  }
}
