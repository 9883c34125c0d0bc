/**
 * Listing a big store: `layers`, `layers --json` and `images` on a store of
 * thousands of layers and images.
 *
 * @module
 */

import type { BenchContext } from "../context.ts";
import { populateStore } from "../populate.ts";
import { run } from "../proc.ts";
import { type BenchStore, sideOrder } from "../sides.ts";
import { median } from "../stats.ts";

/** The listings measured, by metric name. */
export const LISTINGS: Record<string, string[]> = {
  "list.layers": ["layers"],
  "list.layers_json": ["layers", "--json"],
  "list.images": ["images"],
};

/** Records ms per call of each listing. */
export async function listingWorkload(ctx: BenchContext, rep: number): Promise<void> {
  const { listLayers, listImages, listCalls } = ctx.config;
  const stores: BenchStore[] = [];
  for (const side of sideOrder(rep)) {
    const store = ctx.store(side, "vfs", "list");
    await populateStore(store, listLayers, listImages);
    // One untimed call each: any first-load work is not what is measured.
    const out = await run(store.argv(["layers", "--json"]));
    const n = (JSON.parse(out.stdout) ?? []).length;
    if (n !== listLayers) ctx.fail(`${side}: populated store lists ${n} layers, not ${listLayers}`);
    await run(store.argv(["images"]));
    stores.push(store);
  }
  for (const [metric, args] of Object.entries(LISTINGS)) {
    const times = new Map<string, number[]>();
    for (let i = 0; i < listCalls; i++) {
      for (const store of i % 2 ? [...stores].reverse() : stores) {
        const t = (await run(store.argv(args))).ms;
        times.set(store.side, [...(times.get(store.side) ?? []), t]);
      }
    }
    for (const [side, ts] of times) ctx.record(metric, side, median(ts), rep);
  }
  for (const s of stores) await s.remove();
}
