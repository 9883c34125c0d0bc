/**
 * Applying the big layer (uncompressed and gzip) to an empty layer with
 * `applydiff`, beside `tar -x` of the same file; then `diff` of the layer
 * applied from the uncompressed tar, whose SHA-256 must equal the input's.
 *
 * @module
 */

import type { BenchContext } from "../context.ts";
import { removeTree, run, sync } from "../proc.ts";
import { type SideName, sideOrder } from "../sides.ts";

/** The two inputs, by metric suffix. */
function inputs(ctx: BenchContext): Array<[string, string]> {
  return [["tar", ctx.corpus.tar], ["gz", ctx.corpus.gz]];
}

async function applyOnce(
  ctx: BenchContext,
  side: SideName,
  driver: string,
  kind: string,
  input: string,
  rep: number,
): Promise<void> {
  const store = ctx.store(side, driver, `apply-${kind}`);
  const prefix = driver === "vfs" ? "" : `${driver}.`;
  try {
    const layer = (await run(store.argv(["create-layer"]))).stdout.split("\n")[0];
    await sync();
    const r = await run(store.argv(["applydiff", "-f", input, layer]), { peak: true });
    ctx.record(`apply.${prefix}${kind}`, side, r.ms / 1000, rep);
    ctx.record(`peak.${prefix}${kind}`, side, r.peakMiB!, rep);
    if (kind !== "tar" || driver !== "vfs") return;
    const out = ctx.path(`diff-${side}`);
    await Deno.mkdir(out.slice(0, out.lastIndexOf("/")), { recursive: true });
    await sync();
    const d = await run(store.argv(["diff", "-u", "-f", out, layer]));
    ctx.record("diff.tar", side, d.ms / 1000, rep);
    const sha = (await run(["sha256sum", out])).stdout.split(" ")[0];
    if (sha !== ctx.corpus.sha256) {
      ctx.fail(`${side}: diff of the applied layer has SHA-256 ${sha}`);
    }
    await Deno.remove(out);
  } finally {
    await store.remove();
  }
}

async function tarOnce(ctx: BenchContext, kind: string, input: string, rep: number): Promise<void> {
  const dir = ctx.path(`tar-x-${kind}`);
  await Deno.mkdir(dir, { recursive: true });
  try {
    await sync();
    const flags = kind === "gz" ? "-xzf" : "-xf";
    const r = await run(["tar", flags, input, "-C", dir], { peak: true });
    ctx.record(`apply.${kind}`, "tar", r.ms / 1000, rep);
    ctx.record(`peak.${kind}`, "tar", r.peakMiB!, rep);
  } finally {
    await removeTree(dir);
  }
}

/** Records `apply.tar`, `apply.gz`, `apply.overlay.tar` (s), `peak.*` (MiB), `diff.tar` (s). */
export async function applyWorkload(ctx: BenchContext, rep: number): Promise<void> {
  for (const [kind, input] of inputs(ctx)) {
    const order = [...sideOrder(rep + (kind === "gz" ? 1 : 0))];
    // tar -x takes turns too: first, between or last.
    const slot = rep % 3;
    for (let i = 0; i <= order.length; i++) {
      if (i === slot) await tarOnce(ctx, kind, input, rep);
      if (i < order.length) await applyOnce(ctx, order[i], "vfs", kind, input, rep);
    }
  }
  for (const side of sideOrder(rep)) {
    if (ctx.drivers[side].includes("overlay")) {
      await applyOnce(ctx, side, "overlay", "tar", ctx.corpus.tar, rep);
    }
  }
}
