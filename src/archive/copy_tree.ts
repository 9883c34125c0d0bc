/**
 * A full copy of a directory tree, as the vfs driver makes one layer from
 * its parent: contents, hard links, symlinks, devices, fifos, sockets,
 * owners, modes (with setuid/setgid/sticky), xattrs and times.
 *
 * @module
 */

import { mknod, requireLibc, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, splitDev } from "../sys/libc.ts";
import { wrapError } from "../errors.ts";
import { fsOps } from "../sys/fs_ops.ts";
import { lchown, readXattrs, seconds, setTimes, writeXattr } from "./tree_walk.ts";

/** Options of {@link copyTree}. */
export interface CopyTreeOptions {
  /**
   * `copy` (default) copies every extended attribute and needs FFI to read
   * them (refused with `ffi-required` otherwise); `skip` copies none.
   */
  xattrs?: "copy" | "skip";
  /** Yield to the event loop after this many paths (default 512), so a big copy does not stall other work. */
  yieldEvery?: number;
}

const S_IFMT = 0o170000;
const PARALLEL_COPIES = 8;

/**
 * Copies the tree at `src` into `dest` (created if missing; an existing
 * `dest` gets `src`'s own owner, mode and times). Symlinks are copied as
 * links, never followed; files sharing an inode in `src` share one in
 * `dest`. Directory times are set after their contents.
 *
 * @example
 * ```ts
 * import { copyTree } from "./copy_tree.ts";
 * await copyTree("/var/lib/containers/storage/vfs/dir/parent", "/var/lib/containers/storage/vfs/dir/child");
 * ```
 */
export async function copyTree(
  src: string,
  dest: string,
  options: CopyTreeOptions = {},
): Promise<void> {
  const copyXattrs = (options.xattrs ?? "copy") === "copy";
  if (copyXattrs) requireLibc("copying extended attributes");
  const yieldEvery = options.yieldEvery ?? 512;
  const links = new Map<string, string>();
  let count = 0;

  const meta = (s: string, d: string, info: Deno.FileInfo, symlink: boolean): void => {
    lchown(d, info.uid!, info.gid!);
    if (copyXattrs) {
      for (const [name, value] of readXattrs(s)!) writeXattr(d, name, value);
    }
    // After chown, which clears setuid/setgid.
    if (!symlink) Deno.chmodSync(d, info.mode! & 0o7777);
  };
  const times = (d: string, info: Deno.FileInfo, symlink: boolean): void => {
    setTimes(d, symlink, seconds(info.atime), seconds(info.mtime));
  };

  // File contents are copied by several in-kernel copies at once (Deno runs
  // them on its blocking thread pool); metadata follows each copy.
  const inFlight = new Set<Promise<void>>();
  const copying = new Map<string, Promise<void>>();
  const dirs: Array<[string, string, Deno.FileInfo]> = [];
  let failure: unknown = undefined;
  const track = (p: Promise<void>): Promise<void> => {
    const t = p.catch((err) => {
      failure ??= err;
    }).finally(() => inFlight.delete(t));
    inFlight.add(t);
    return t;
  };

  const copyDir = async (s: string, d: string): Promise<void> => {
    for (const ent of Deno.readDirSync(s)) {
      if (failure !== undefined) throw failure;
      const sp = `${s}/${ent.name}`;
      const dp = `${d}/${ent.name}`;
      if (++count % yieldEvery === 0) await new Promise((r) => setTimeout(r, 0));
      let info: Deno.FileInfo;
      try {
        info = Deno.lstatSync(sp);
      } catch (err) {
        throw wrapError(err, `copying ${JSON.stringify(sp)}`);
      }
      try {
        if (info.isDirectory) {
          Deno.mkdirSync(dp, { mode: 0o700 });
          dirs.push([sp, dp, info]);
          await copyDir(sp, dp);
          continue;
        }
        if (info.nlink! > 1) {
          const key = `${info.dev}:${info.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            await copying.get(key);
            Deno.linkSync(first, dp);
            continue;
          }
          links.set(key, dp);
        }
        if (info.isFile) {
          while (inFlight.size >= PARALLEL_COPIES) await Promise.race(inFlight);
          const job = track(
            Deno.copyFile(sp, dp).then(() => {
              meta(sp, dp, info, false);
              times(dp, info, false);
            }).catch((err) => {
              throw wrapError(err, `copying ${JSON.stringify(sp)}`);
            }),
          );
          if (info.nlink! > 1) copying.set(`${info.dev}:${info.ino}`, job);
          continue;
        }
        copyNode(sp, dp, info);
        meta(sp, dp, info, info.isSymlink);
        times(dp, info, info.isSymlink);
      } catch (err) {
        throw wrapError(err, `copying ${JSON.stringify(sp)}`);
      }
    }
  };

  const rootInfo = Deno.lstatSync(src);
  Deno.mkdirSync(dest, { recursive: true, mode: 0o700 });
  try {
    await copyDir(src, dest);
  } finally {
    await Promise.all(inFlight);
  }
  if (failure !== undefined) throw failure;
  // Directories last: creating their contents changed their times.
  for (const [s, d, info] of dirs) {
    meta(s, d, info, false);
    times(d, info, false);
  }
  meta(src, dest, rootInfo, false);
  times(dest, rootInfo, false);
}

/** Creates one non-directory, non-file node like `info` at `d` (link target or device). */
function copyNode(s: string, d: string, info: Deno.FileInfo): void {
  if (info.isSymlink) {
    // Through libc when FFI is there: Deno's symlinkSync wants unscoped
    // read and write permissions, which the CLI's documented set does not give.
    fsOps().symlink(Deno.readLinkSync(s), d);
    return;
  }
  const type = info.mode! & S_IFMT;
  if (type === S_IFCHR || type === S_IFBLK || type === S_IFIFO || type === S_IFSOCK) {
    const { major, minor } = splitDev(info.rdev ?? 0);
    requireLibc("copying device, fifo and socket nodes");
    mknod(d, type | (info.mode! & 0o777), major, minor);
    return;
  }
  throw new Error(`unsupported file type ${type.toString(8)}`);
}
