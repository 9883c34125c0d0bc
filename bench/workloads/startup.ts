/**
 * Per-call cost: `status` on an empty store, beside the floors it is judged
 * against: a `deno run` hello world with the same flags (Deno's startup) and
 * the Go CLI's `version` (Go's startup).
 *
 * @module
 */

import { join } from "node:path";
import type { BenchContext } from "../context.ts";
import { DENO_RUN_FLAGS, GO_CLI, sideOrder } from "../sides.ts";
import { run } from "../proc.ts";
import { median } from "../stats.ts";

/** Records `status` per side, `floor` for `deno-hello` and `go-version` (ms per call). */
export async function startupWorkload(ctx: BenchContext, rep: number): Promise<void> {
  const hello = join(ctx.scratch.dir, "hello.ts");
  await Deno.writeTextFile(hello, 'console.log("hello");\n');
  const cstor = ctx.store("cstor", "vfs", "status");
  const go = ctx.store("go", "vfs", "status");
  // The first call creates the store; only calls on an existing empty store count.
  await run(cstor.argv(["status"]));
  await run(go.argv(["status"]));
  const times: Record<string, number[]> = { cstor: [], go: [], hello: [], goVersion: [] };
  for (let i = 0; i < ctx.config.startupCalls; i++) {
    for (const side of sideOrder(rep + i)) {
      if (side === "cstor") {
        times.cstor.push((await run(cstor.argv(["status"]))).ms);
        times.hello.push((await run([Deno.execPath(), ...DENO_RUN_FLAGS, hello])).ms);
      } else {
        times.go.push((await run(go.argv(["status"]))).ms);
        times.goVersion.push((await run([GO_CLI, "version"])).ms);
      }
    }
  }
  ctx.record("status", "cstor", median(times.cstor), rep);
  ctx.record("status", "go", median(times.go), rep);
  ctx.record("floor", "deno-hello", median(times.hello), rep);
  ctx.record("floor", "go-version", median(times.goVersion), rep);
  await cstor.remove();
  await go.remove();
}
