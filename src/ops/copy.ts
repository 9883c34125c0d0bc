/**
 * Copying files between the host and layers (the `copy` command), with
 * owners translated through each side's ID maps, and the "parent owners"
 * of a layer's mount point.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import * as nfs from "node:fs";
import { toContainer, toHost, tryToContainer } from "../archive/idmap.ts";
import { walkTree } from "../archive/tree_walk.ts";
import type { IDMappings } from "../drivers/driver.ts";

/** How owners change on the way: source host IDs → container IDs → destination host IDs. */
export interface CopyOwners {
  /** Maps of the source layer (empty for a host path). */
  from: IDMappings;
  /** Maps of the destination layer (empty for a host path). */
  to: IDMappings;
  /** Container UID/GID to give everything instead of the source's. */
  chown?: { uid: number; gid: number };
}

function owner(info: Deno.FileInfo, o: CopyOwners): { uid: number; gid: number } {
  const c = o.chown ?? {
    uid: toContainer(info.uid ?? 0, o.from.uidMap),
    gid: toContainer(info.gid ?? 0, o.from.gidMap),
  };
  return { uid: toHost(c.uid, o.to.uidMap), gid: toHost(c.gid, o.to.gidMap) };
}

function copyOne(src: string, dst: string, info: Deno.FileInfo, o: CopyOwners): void {
  if (info.isDirectory) {
    try {
      Deno.mkdirSync(dst);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    Deno.chmodSync(dst, (info.mode ?? 0o755) & 0o7777);
  } else if (info.isSymlink) {
    removeIfExists(dst);
    Deno.symlinkSync(Deno.readLinkSync(src), dst);
  } else if (info.isFile) {
    Deno.copyFileSync(src, dst);
  } else {
    return; // devices, fifos and sockets are not copied
  }
  const { uid, gid } = owner(info, o);
  nfs.lchownSync(dst, uid, gid);
  if (!info.isSymlink) Deno.chmodSync(dst, (info.mode ?? 0o644) & 0o7777);
}

/**
 * Copies `src` to `dst`: a directory's contents go into `dst` (created 0755);
 * a file goes to `dst`, or into it when `dst` is an existing directory or
 * `intoDir` is set.
 */
export function copyPath(src: string, dst: string, owners: CopyOwners, intoDir: boolean): void {
  const info = Deno.lstatSync(src);
  if (info.isDirectory) {
    Deno.mkdirSync(dst, { recursive: true, mode: 0o755 });
    walkTree(src, (e) => {
      const target = join(dst, e.rel);
      if (!e.info.isDirectory) removeIfExists(target);
      copyOne(e.abs, target, e.info, owners);
    });
    return;
  }
  let target = dst;
  let isDir = false;
  try {
    isDir = Deno.statSync(dst).isDirectory;
  } catch { /* does not exist yet */ }
  if (isDir || intoDir) target = join(dst, basename(src));
  Deno.mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  removeIfExists(target);
  copyOne(src, target, info, owners);
}

function removeIfExists(path: string): void {
  try {
    const st = Deno.lstatSync(path);
    if (!st.isDirectory) Deno.removeSync(path);
  } catch { /* nothing there */ }
}

/**
 * Owners of the directories above `mountPoint` that the layer's maps cannot
 * express inside the container (what a user namespace would show as
 * nobody). Empty when the layer has no maps.
 */
export function parentOwners(
  mountPoint: string,
  maps: IDMappings,
): { uids: number[]; gids: number[] } {
  const uids = new Set<number>();
  const gids = new Set<number>();
  if (maps.uidMap.length === 0 && maps.gidMap.length === 0) return { uids: [], gids: [] };
  for (let dir = dirname(mountPoint); dir !== "/" && dir !== "."; dir = dirname(dir)) {
    const st = Deno.statSync(dir);
    const uid = st.uid ?? 0;
    const gid = st.gid ?? 0;
    if (maps.uidMap.length > 0 && tryToContainer(uid, maps.uidMap) === undefined) uids.add(uid);
    if (maps.gidMap.length > 0 && tryToContainer(gid, maps.gidMap) === undefined) gids.add(gid);
  }
  return { uids: [...uids].sort((a, b) => a - b), gids: [...gids].sort((a, b) => a - b) };
}
