/**
 * Which drivers each side can use here: vfs always; overlay when a layer can
 * be created, mounted and unmounted with it (kernel support, and for cstor
 * the driver being there at all).
 *
 * @module
 */

import type { BenchContext } from "./context.ts";
import { run } from "./proc.ts";
import type { BenchStore } from "./sides.ts";

/** True when `store` (an overlay store) can create, mount and unmount a layer. */
export async function overlayWorks(store: BenchStore): Promise<string | true> {
  try {
    const layer = (await run(store.argv(["create-layer"]))).stdout.split("\n")[0];
    await run(store.argv(["mount", layer]));
    await run(store.argv(["unmount", layer]));
    await run(store.argv(["shutdown"]), { check: false });
    return true;
  } catch (err) {
    return (err as Error).message.split("\n")[0].slice(0, 300);
  } finally {
    await store.remove();
  }
}

/** Fills `ctx.drivers` (logging why overlay is left out for a side). */
export async function probeDrivers(ctx: BenchContext): Promise<void> {
  for (const side of ["cstor", "go"] as const) {
    const ok = await overlayWorks(ctx.store(side, "overlay", "probe"));
    if (ok === true) ctx.drivers[side].push("overlay");
    else ctx.log(`${side}: overlay left out: ${ok}`);
  }
}
