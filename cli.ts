/**
 * The cstor command line: `containers-storage`-compatible commands over a
 * store on disk.
 *
 * ```sh
 * deno run -P=cli jsr:@cstor/storage/cli --graph ./graph --run ./run --storage-driver vfs layers
 * ```
 *
 * @module
 */

import { main } from "./src/cli/main.ts";
import { processOutput } from "./src/cli/output.ts";

if (import.meta.main) {
  const code = await main(Deno.args, { out: processOutput(), stdin: () => Deno.stdin.readable });
  Deno.exit(code);
}
