/**
 * Writers at once: W processes at a time, each making N `create-layer` calls
 * one after the other, on one store; every layer must be there afterwards.
 *
 * @module
 */

import type { BenchContext } from "../context.ts";
import { run } from "../proc.ts";
import { type BenchStore, sideOrder } from "../sides.ts";

async function worker(store: BenchStore, n: number, id: number): Promise<number> {
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const r = await run(store.argv(["create-layer", "-n", `w${id}-${i}`]), { check: false });
    if (r.code !== 0) failed++;
  }
  return failed;
}

/** Records `create.concurrent` (s, wall) and `create.present` (layers found afterwards). */
export async function concurrentWorkload(ctx: BenchContext, rep: number): Promise<void> {
  const { createWorkers: w, createsPerWorker: n } = ctx.config;
  for (const side of sideOrder(rep)) {
    const store = ctx.store(side, "vfs", "creates");
    await run(store.argv(["status"])); // the store exists before the race starts
    const start = performance.now();
    // allSettled: a worker that fails must not leave the others running past cleanup.
    const settled = await Promise.allSettled(
      Array.from({ length: w }, (_, i) => worker(store, n, i)),
    );
    const seconds = (performance.now() - start) / 1000;
    const failed = settled.map((r) => r.status === "fulfilled" ? r.value : n);
    for (const r of settled) {
      if (r.status === "rejected") ctx.fail(`${side}: a create-layer worker failed: ${r.reason}`);
    }
    const listed = JSON.parse((await run(store.argv(["layers", "--json"]))).stdout) ?? [];
    const failures = failed.reduce((a, b) => a + b, 0);
    ctx.record("create.concurrent", side, seconds, rep);
    ctx.record("create.present", side, listed.length, rep);
    if (listed.length !== w * n || failures > 0) {
      ctx.fail(
        `${side}: ${w}×${n} concurrent creates: ${listed.length} present, ${failures} failed`,
      );
    }
    await store.remove();
  }
}
