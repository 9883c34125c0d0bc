/**
 * The reader wait: while a big `applydiff` runs on one layer, `layers` is
 * called again and again; the longest call, less the median of the same
 * call on the idle store, is how long a reader waited for the writer.
 * Beside it, a probe in this process takes the layer store's lock shared
 * every few milliseconds, which shows the lock's part alone (without the
 * CPU the apply takes from the reader on a small machine).
 *
 * @module
 */

import { join } from "node:path";
import type { BenchContext } from "../context.ts";
import { run, start, sync } from "../proc.ts";
import { type BenchStore, sideOrder } from "../sides.ts";
import { median } from "../stats.ts";
import { getLockFile } from "../../src/lock/lockfile.ts";

/** Pause between readers' calls: a user running `podman ps` now and then, not a busy loop. */
const READER_PAUSE_MS = 50;
const PROBE_PAUSE_MS = 5;

/** Takes the lock shared every few ms until `done`; resolves with the longest wait. */
async function lockProbe(path: string, done: () => boolean): Promise<number> {
  const lock = getLockFile(path);
  let longest = 0;
  while (!done()) {
    const t = performance.now();
    await lock.rLock();
    longest = Math.max(longest, performance.now() - t);
    lock.unlock();
    await new Promise((r) => setTimeout(r, PROBE_PAUSE_MS));
  }
  return longest;
}

async function measure(ctx: BenchContext, store: BenchStore, rep: number): Promise<void> {
  const side = store.side;
  const target = (await run(store.argv(["create-layer"]))).stdout.split("\n")[0];
  for (let i = 0; i < 10; i++) await run(store.argv(["create-layer", "-n", `other-${i}`]));
  const idle: number[] = [];
  for (let i = 0; i < 5; i++) idle.push((await run(store.argv(["layers"]))).ms);
  const idleMedian = median(idle);
  await sync();
  const apply = start(store.argv(["applydiff", "-f", ctx.corpus.tar, target]));
  let finished = false;
  const applied = apply.done.finally(() => finished = true);
  const probe = lockProbe(
    join(store.graph, `${store.driver}-layers`, "layers.lock"),
    () => finished,
  );
  let longest = 0;
  let calls = 0;
  // Let the apply process start and take its locks before the first reader arrives.
  if (!ctx.config.quick) await new Promise((r) => setTimeout(r, 200));
  while (!finished) {
    const r = await run(store.argv(["layers"]));
    longest = Math.max(longest, r.ms);
    calls++;
    await new Promise((r) => setTimeout(r, READER_PAUSE_MS));
  }
  const applyMs = (await applied).ms;
  const lockWait = await probe;
  // With the quick sizes the apply can end before the first reader: nothing to measure then.
  if (calls === 0 && !ctx.config.quick) ctx.fail(`${side}: the apply ended before any reader ran`);
  ctx.record("reader_wait", side, Math.max(0, longest - idleMedian), rep);
  ctx.record("reader_wait.longest_call", side, longest, rep);
  ctx.record("reader_wait.idle_call", side, idleMedian, rep);
  ctx.record("reader_wait.calls", side, calls, rep);
  ctx.record("reader_wait.lock", side, lockWait, rep);
  ctx.record("reader_wait.apply", side, applyMs / 1000, rep);
}

/** Records `reader_wait` (ms) and its parts. */
export async function readerWaitWorkload(ctx: BenchContext, rep: number): Promise<void> {
  for (const side of sideOrder(rep)) {
    const store = ctx.store(side, "vfs", "wait");
    try {
      await measure(ctx, store, rep);
    } finally {
      await store.remove();
    }
  }
}
