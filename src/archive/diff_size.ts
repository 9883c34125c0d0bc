/**
 * Estimated size of a layer's diff contents (spec `layers-and-diffs.md`
 * §5.1) — of the files, not of the tar stream.
 *
 * @module
 */

import { type Change, changes, type ChangesOptions } from "./changes.ts";

/**
 * Sum of `st_size` of the Added and Modified non-directories of `changes`,
 * looked up in `layerDir`; an inode with several names counts once, paths
 * that cannot be read are skipped (as Go's `ChangesSize`).
 */
export function changesSize(layerDir: string, list: readonly Change[]): number {
  let size = 0;
  const seen = new Set<string>();
  for (const c of list) {
    if (c.Kind === 2) continue;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(layerDir + c.Path);
    } catch {
      continue;
    }
    if (info.isDirectory) continue;
    if (info.nlink! > 1) {
      const key = `${info.dev}:${info.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    size += info.size;
  }
  return size;
}

/**
 * Naive diff size: {@link changes} of `layerDir` against `parentDir`
 * (an empty tree when undefined), then {@link changesSize}.
 */
export async function naiveDiffSize(
  layerDir: string,
  parentDir: string | undefined,
  options: ChangesOptions = {},
): Promise<number> {
  return changesSize(layerDir, await changes(layerDir, parentDir, options));
}

/**
 * Overlay diff size: total size of every non-directory under `diffDir`
 * (regular files, symlinks, whiteout devices…), each inode once.
 */
export async function overlayDiffSize(diffDir: string): Promise<number> {
  let size = 0;
  let count = 0;
  const seen = new Set<string>();
  const walk = async (abs: string): Promise<void> => {
    for (const d of Deno.readDirSync(abs)) {
      if (++count % 1024 === 0) await new Promise((r) => setTimeout(r, 0));
      const p = `${abs}/${d.name}`;
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(p);
      } catch {
        continue;
      }
      if (info.isDirectory) {
        await walk(p);
        continue;
      }
      if (info.nlink! > 1) {
        const key = `${info.dev}:${info.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      size += info.size;
    }
  };
  await walk(diffDir);
  return size;
}
