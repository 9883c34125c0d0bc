/**
 * A deep chain: N layers, each the child of the one before, created one
 * `create-layer` call at a time, then listed.
 *
 * @module
 */

import type { BenchContext } from "../context.ts";
import { run } from "../proc.ts";
import { sideOrder } from "../sides.ts";
import { median } from "../stats.ts";

/** Records `chain.create` (ms per create) and `chain.layers` (ms per listing). */
export async function chainWorkload(ctx: BenchContext, rep: number): Promise<void> {
  for (const side of sideOrder(rep)) {
    const store = ctx.store(side, "vfs", "chain");
    let parent: string[] = [];
    let total = 0;
    for (let i = 0; i < ctx.config.chainLength; i++) {
      const r = await run(store.argv(["create-layer", ...parent]));
      total += r.ms;
      parent = [r.stdout.split("\n")[0]];
    }
    ctx.record("chain.create", side, total / ctx.config.chainLength, rep);
    const times: number[] = [];
    for (let i = 0; i < ctx.config.listCalls; i++) {
      const r = await run(store.argv(["layers"]));
      times.push(r.ms);
      const n = r.stdout.split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l)).length;
      if (n !== ctx.config.chainLength) ctx.fail(`${side}: chain lists ${n} layers`);
    }
    ctx.record("chain.layers", side, median(times), rep);
    await store.remove();
  }
}
