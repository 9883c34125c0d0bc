/**
 * Opening a file named by a tar entry inside a layer directory without
 * following symlinks out of it: reassembly of a layer's tar stream must read
 * the layer's own files, whatever a container did to the tree since.
 *
 * @module
 */

import { join } from "node:path";
import { isNotFound } from "../errors.ts";

/**
 * Opens regular file `name` (a tar entry name) under `root`; null when it
 * does not exist there. Names that leave `root` and paths through symlinks
 * are refused.
 */
export async function openInside(root: string, name: string): Promise<Deno.FsFile | null> {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) {
    throw new Error(`tar entry ${JSON.stringify(name)} does not name a file inside the layer`);
  }
  let path = root;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const last = i === parts.length - 1;
    if (info.isSymlink) {
      throw new Error(`tar entry ${JSON.stringify(name)} leads through a symlink in the layer`);
    }
    if (!last && !info.isDirectory) return null;
    if (last && !info.isFile) return null;
  }
  return await Deno.open(path, { read: true });
}
