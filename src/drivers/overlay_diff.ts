/**
 * Reading an overlay layer back (layers-and-diffs.md §4.2, §5, §5.1): the
 * native way reads the layer's `diff/` against its lowers' `diff/`s and
 * needs no mount; the naive way compares mounted trees and is used when
 * `diff/` alone does not say what changed (a mount program's AUFS
 * whiteouts, a kernel that records renames as redirects, a layer whose
 * first lower is not its recorded parent, or a comparison with a layer
 * other than the parent).
 *
 * @module
 */

import { join } from "node:path";
import {
  changes as naiveChanges,
  type ChangesOptions,
  overlayChanges,
} from "../archive/changes.ts";
import { naiveDiff, overlayDiff } from "../archive/diff_tar.ts";
import { naiveDiffSize, overlayDiffSize } from "../archive/diff_size.ts";
import type { Change, LayerRef } from "./driver.ts";
import { isRealParent, type OverlayLayout } from "./overlay_layout.ts";

/** Owners of both trees are compared as container IDs, each through its own maps. */
function mapOptions(layer: LayerRef, from: LayerRef | undefined): ChangesOptions {
  return {
    uidMap: layer.maps.uidMap,
    gidMap: layer.maps.gidMap,
    parentUidMap: from?.maps.uidMap ?? layer.maps.uidMap,
    parentGidMap: from?.maps.gidMap ?? layer.maps.gidMap,
  };
}

/** A layer mounted read-only in a private place for as long as it is needed. */
export interface PrivateMount {
  readonly dir: string;
  release(): Promise<void>;
}

/** What the diff functions need from the driver. */
export interface DiffContext {
  readonly layout: OverlayLayout;
  readonly rootless: boolean;
  readonly mountProgram: string;
  /** True when native diffs cannot be trusted (probed once, cached in the run home). */
  useNaiveDiff(): Promise<boolean>;
  /** Mounts `layer` read-only somewhere private. */
  privateMount(layer: LayerRef): Promise<PrivateMount>;
}

async function native(
  ctx: DiffContext,
  layer: LayerRef,
  from: LayerRef | undefined,
): Promise<boolean> {
  return !(await ctx.useNaiveDiff()) && isRealParent(ctx.layout, layer, from);
}

/** Mounts `layer` and, when given, `from`; releases both when `fn`'s promise settles. */
async function withMounts<T>(
  ctx: DiffContext,
  layer: LayerRef,
  from: LayerRef | undefined,
  fn: (layerDir: string, fromDir: string | undefined) => Promise<T>,
): Promise<T> {
  const mounts: PrivateMount[] = [];
  try {
    mounts.push(await ctx.privateMount(layer));
    if (from !== undefined) mounts.push(await ctx.privateMount(from));
    return await fn(mounts[0].dir, mounts[1]?.dir);
  } finally {
    for (const m of mounts.reverse()) await m.release();
  }
}

/** The layer's tar stream against `from` (undefined: the whole tree). */
export async function layerDiff(
  ctx: DiffContext,
  layer: LayerRef,
  from: LayerRef | undefined,
): Promise<ReadableStream<Uint8Array>> {
  if (await native(ctx, layer, from)) {
    const dir = ctx.layout.layerDir(layer.id);
    return overlayDiff(join(dir, "diff"), ctx.layout.lowerDiffDirs(dir), {
      uidMap: layer.maps.uidMap,
      gidMap: layer.maps.gidMap,
      whiteouts: ctx.mountProgram !== "" ? "aufs" : "overlay",
      rootless: ctx.rootless,
    });
  }
  const mounts: PrivateMount[] = [];
  const release = async (): Promise<void> => {
    for (const m of mounts.splice(0).reverse()) await m.release().catch(() => {});
  };
  let inner: ReadableStreamDefaultReader<Uint8Array>;
  try {
    mounts.push(await ctx.privateMount(layer));
    if (from !== undefined) mounts.push(await ctx.privateMount(from));
    inner = naiveDiff(mounts[0].dir, mounts[1]?.dir, mapOptions(layer, from)).getReader();
  } catch (err) {
    await release();
    throw err;
  }
  // The mounts must outlive this call: they go when the stream ends.
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await inner.read();
        if (r.done) {
          await release();
          controller.close();
        } else {
          controller.enqueue(r.value);
        }
      } catch (err) {
        await release();
        controller.error(err);
      }
    },
    async cancel(reason) {
      try {
        await inner.cancel(reason);
      } finally {
        await release();
      }
    },
  });
}

/** What changed in the layer against `from` (undefined: everything is added). */
export async function layerChanges(
  ctx: DiffContext,
  layer: LayerRef,
  from: LayerRef | undefined,
): Promise<Change[]> {
  if (await native(ctx, layer, from)) {
    const dir = ctx.layout.layerDir(layer.id);
    return await overlayChanges(join(dir, "diff"), ctx.layout.lowerDiffDirs(dir), {
      rootless: ctx.rootless,
    });
  }
  return await withMounts(
    ctx,
    layer,
    from,
    (l, f) => naiveChanges(l, f, mapOptions(layer, from)),
  );
}

/**
 * Estimated size of the diff: the size of `diff/` when that is the diff
 * (native, or any mount program, as upstream), else of the changed files.
 */
export async function layerDiffSize(
  ctx: DiffContext,
  layer: LayerRef,
  from: LayerRef | undefined,
): Promise<number> {
  const naive = ctx.mountProgram === "" &&
    ((await ctx.useNaiveDiff()) || !isRealParent(ctx.layout, layer, from));
  if (!naive) return await overlayDiffSize(join(ctx.layout.layerDir(layer.id), "diff"));
  return await withMounts(
    ctx,
    layer,
    from,
    (l, f) => naiveDiffSize(l, f, mapOptions(layer, from)),
  );
}
