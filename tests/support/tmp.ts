/** Temp directories that clean themselves up: `await using dir = await tempDir();`. @module */

export interface TempDir extends AsyncDisposable {
  path: string;
}

/** A fresh directory under the system temp dir, removed on dispose. */
export async function tempDir(prefix = "agentkeys-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}
