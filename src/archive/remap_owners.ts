/**
 * Re-owning a layer's contents when its ID maps change (`UpdateLayerIDMap`,
 * spec `layers-and-diffs.md` §7.2).
 *
 * @module
 */

import * as nfs from "node:fs";
import { StorageError, wrapError } from "../errors.ts";
import { requireLibc } from "../sys/libc.ts";
import { type IDMappings, isIdentity, tryToContainer, tryToHost } from "./idmap.ts";
import { lchown, lstatOrNull, readXattr, writeXattr } from "./tree_walk.ts";

/** The kernel's overflow IDs, which IDs outside a user namespace's maps show as. */
export function overflowIDs(): { uid: number; gid: number } {
  const read = (p: string): number => {
    try {
      const n = Number(Deno.readTextFileSync(p).trim());
      return Number.isInteger(n) && n >= 0 ? n : 65534;
    } catch {
      return 65534;
    }
  };
  return {
    uid: read("/proc/sys/kernel/overflowuid"),
    gid: read("/proc/sys/kernel/overflowgid"),
  };
}

/**
 * Re-owns every path below `dir` (not the root itself; symlinks are not
 * followed): on-disk owner → container IDs through `from` (a 0:0 owner
 * outside `from` stays 0:0) → host IDs through `to` (IDs outside `to`
 * become the overflow IDs). Changed paths are `lchown`ed, then get back
 * their setuid/setgid bits and `security.capability`, which chown clears.
 * The second and later names of a multiply-linked inode are replaced by a
 * hard link to the first (a walk over an overlay mount copies files up one
 * name at a time, which would split them).
 *
 * @throws StorageError (`invalid-input`) naming the path when an owner is
 *   outside `from`.
 */
export async function remapOwners(
  dir: string,
  from: IDMappings,
  to: IDMappings,
): Promise<void> {
  if (isIdentity(from) && isIdentity(to)) return;
  // chown clears security.capability; without FFI it could not be put back.
  requireLibc("re-owning layer contents");
  const overflow = overflowIDs();
  const firstOfInode = new Map<string, string>();
  let count = 0;

  const visit = (abs: string, info: Deno.FileInfo): void => {
    if (!info.isDirectory && info.nlink! > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = firstOfInode.get(key);
      if (first !== undefined) {
        Deno.removeSync(abs);
        Deno.linkSync(first, abs);
        return;
      }
      firstOfInode.set(key, abs);
    }
    let uid = info.uid!;
    let gid = info.gid!;
    if (!isIdentity(from)) {
      const cu = tryToContainer(uid, from.uidMap);
      const cg = tryToContainer(gid, from.gidMap);
      if (cu !== undefined && cg !== undefined) {
        uid = cu;
        gid = cg;
      } else if (uid !== 0 || gid !== 0) {
        // 0:0 outside the old maps is tolerated: a parent layer that should
        // have been mapped but was not.
        throw new StorageError("invalid-input", undefined, {
          message: `mapping host ID pair {UID:${uid} GID:${gid}} for ${
            JSON.stringify(abs)
          } to container: no mapping`,
        });
      }
    }
    uid = tryToHost(uid, to.uidMap) ?? overflow.uid;
    gid = tryToHost(gid, to.gidMap) ?? overflow.gid;
    if (uid === info.uid && gid === info.gid) return;
    const cap = readXattr(abs, "security.capability");
    lchown(abs, uid, gid);
    const mode = info.mode! & 0o7777;
    if (!info.isSymlink && (mode & 0o6000) !== 0) nfs.chmodSync(abs, mode);
    if (cap !== null) writeXattr(abs, "security.capability", cap);
  };

  const walk = async (abs: string): Promise<void> => {
    const names = [...Deno.readDirSync(abs)].map((d) => d.name).sort();
    for (const name of names) {
      if (++count % 512 === 0) await new Promise((r) => setTimeout(r, 0));
      const p = `${abs}/${name}`;
      const info = lstatOrNull(p);
      if (info === null) continue;
      try {
        visit(p, info);
      } catch (err) {
        if (err instanceof StorageError) throw err;
        throw wrapError(err, `re-owning ${JSON.stringify(p)}`);
      }
      if (info.isDirectory) await walk(p);
    }
  };
  await walk(dir);
}
