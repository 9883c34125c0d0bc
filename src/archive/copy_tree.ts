/**
 * A full copy of a directory tree, as the vfs driver makes one layer from
 * its parent: contents, hard links, symlinks, devices, fifos, sockets,
 * owners, modes (with setuid/setgid/sticky), xattrs and times.
 *
 * @module
 */

import { mknod, requireLibc, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, splitDev } from "../sys/libc.ts";
import { wrapError } from "../errors.ts";
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

  const copyDir = async (s: string, d: string): Promise<void> => {
    for (const ent of Deno.readDirSync(s)) {
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
          await copyDir(sp, dp);
          meta(sp, dp, info, false);
          times(dp, info, false);
          continue;
        }
        if (info.nlink! > 1) {
          const key = `${info.dev}:${info.ino}`;
          const first = links.get(key);
          if (first !== undefined) {
            Deno.linkSync(first, dp);
            continue;
          }
          links.set(key, dp);
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
  await copyDir(src, dest);
  meta(src, dest, rootInfo, false);
  times(dest, rootInfo, false);
}

/** Creates one non-directory node like `info` at `d` (contents, link target or device). */
function copyNode(s: string, d: string, info: Deno.FileInfo): void {
  if (info.isFile) {
    // copy_file_range underneath: in-kernel, reflinks where the filesystem can.
    Deno.copyFileSync(s, d);
    return;
  }
  if (info.isSymlink) {
    Deno.symlinkSync(Deno.readLinkSync(s), d);
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
