/**
 * Opening a file named by a tar entry inside a layer directory without
 * following symlinks out of it: reassembly of a layer's tar stream must read
 * the layer's own files, whatever a container did to the tree since.
 *
 * @module
 */

import { isNotFound } from "../errors.ts";
import { FileType, fsOps, type ReadFile } from "../sys/fs_ops.ts";

/**
 * Directories (full paths) already found to be real directories during one
 * reassembly. Keep one only for as long as one tar stream is being built.
 */
export type VerifiedDirs = Set<string>;

/**
 * Opens regular file `name` (a tar entry name) under `root`; null when it
 * does not exist there. Names that leave `root` and paths through symlinks
 * are refused.
 *
 * Synchronous calls, and with FFI straight through libc (src/sys/fs_ops.ts):
 * a diff opens every file of a layer, and as async ops (a thread hop each),
 * or with Deno resolving each path itself (a readlink per component), the
 * checks and opens cost more than the reading.
 */
export function openInside(
  root: string,
  name: string,
  verified?: VerifiedDirs,
): Promise<ReadFile | null> {
  try {
    return Promise.resolve(openInsideSync(root, name, verified));
  } catch (err) {
    return Promise.reject(err);
  }
}

function throughSymlink(name: string): Error {
  return new Error(`tar entry ${JSON.stringify(name)} leads through a symlink in the layer`);
}

function openInsideSync(
  root: string,
  name: string,
  verified: VerifiedDirs | undefined,
): ReadFile | null {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.includes("..")) {
    throw new Error(`tar entry ${JSON.stringify(name)} does not name a file inside the layer`);
  }
  const fs = fsOps();
  let path = root;
  for (let i = 0; i < parts.length; i++) {
    // The parts are clean (no "", "." or ".."): no need for join's normalising.
    path = `${path}/${parts[i]}`;
    const last = i === parts.length - 1;
    if (!last && verified?.has(path)) continue;
    // With FFI the file itself is opened with O_NOFOLLOW and checked after.
    if (last && fs.native) break;
    const type = fs.typeOf(path);
    if (type === null) return null;
    if (type === FileType.symlink) throw throughSymlink(name);
    if (!last && type !== FileType.directory) return null;
    if (!last) verified?.add(path);
    if (last && type !== FileType.regular) return null;
  }
  let opened;
  try {
    opened = fs.openRead(path);
  } catch (err) {
    if (isNotFound(err) || hasErrno(err, ENOENT) || hasErrno(err, ENOTDIR)) return null;
    if (hasErrno(err, ELOOP)) throw throughSymlink(name);
    throw err;
  }
  if (opened.type !== FileType.regular) {
    opened.file.close();
    return null;
  }
  return opened.file;
}

const ENOENT = 2;
const ENOTDIR = 20;
const ELOOP = 40;

function hasErrno(err: unknown, n: number): boolean {
  return (err as { errno?: number })?.errno === n;
}
