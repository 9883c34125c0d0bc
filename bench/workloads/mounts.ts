/**
 * Mount and unmount cycles of one layer, per driver both sides support
 * (vfs: a mount count and a path; overlay: a kernel overlay mount).
 *
 * @module
 */

import type { BenchContext } from "../context.ts";
import { run } from "../proc.ts";
import { sideOrder } from "../sides.ts";

/** Records `mount.<driver>` in ms per mount+unmount cycle. */
export async function mountWorkload(ctx: BenchContext, rep: number): Promise<void> {
  for (const driver of ["vfs", "overlay"]) {
    for (const side of sideOrder(rep)) {
      if (!ctx.drivers[side].includes(driver)) continue;
      const store = ctx.store(side, driver, "mount");
      const base = (await run(store.argv(["create-layer"]))).stdout.split("\n")[0];
      const layer = (await run(store.argv(["create-layer", base]))).stdout.split("\n")[0];
      let total = 0;
      for (let i = 0; i < ctx.config.mountCycles; i++) {
        const m = await run(store.argv(["mount", layer]));
        if (m.stdout.trim() === "") ctx.fail(`${side} ${driver}: mount printed no path`);
        const u = await run(store.argv(["unmount", layer]));
        total += m.ms + u.ms;
      }
      ctx.record(`mount.${driver}`, side, total / ctx.config.mountCycles, rep);
      if (driver === "overlay") await run(store.argv(["shutdown"]), { check: false });
      await store.remove();
    }
  }
}
