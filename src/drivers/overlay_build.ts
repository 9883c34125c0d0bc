/**
 * Building a layer's directory (layout.md §4.2) — in a private staging
 * directory, so nothing is visible until the driver renames it into the
 * home — and rotating `diff/` after an ID-map change (layers-and-diffs.md
 * §7.3).
 *
 * @module
 */

import { join } from "node:path";
import { type IDMappings, toHost } from "../archive/idmap.ts";
import { diffName, exists, newLinkID, type OverlayLayout } from "./overlay_layout.ts";
import { readProcFile } from "./mount.ts";

/** A base layer's `diff/` mode when no parent lends one. */
export const DEFAULT_DIFF_MODE = 0o555;

let ids: { uid: number; gid: number } | undefined;

/**
 * This process's effective UID and GID, from `/proc/self/status`: the CLI
 * may read `/proc/self` but has no `--allow-sys` for `Deno.uid()`.
 */
export function processIDs(): { uid: number; gid: number } {
  if (ids !== undefined) return ids;
  const status = readProcFile("/proc/self/status");
  const field = (name: string): number => {
    const line = status.split("\n").find((l) => l.startsWith(`${name}:`));
    // Fields: real, effective, saved, filesystem.
    return Number(line?.split(/\s+/)[2] ?? NaN);
  };
  ids = { uid: field("Uid"), gid: field("Gid") };
  return ids;
}

/** Makes a directory with exactly `mode` (no umask) and owner. */
export function mkdirAs(path: string, mode: number, uid: number, gid: number): void {
  Deno.mkdirSync(path, { mode });
  const me = processIDs();
  if (me.uid === 0 || uid !== me.uid || gid !== me.gid) Deno.chownSync(path, uid, gid);
  // After chown, which clears setuid/setgid.
  Deno.chmodSync(path, mode);
}

/** The host IDs container root maps to (the owner of a layer's top directories). */
export function rootPair(maps: IDMappings): { uid: number; gid: number } {
  return { uid: toHost(0, maps.uidMap), gid: toHost(0, maps.gidMap) };
}

/**
 * Creates the directory of a new layer at `dir` (which must not exist):
 * `diff/`, `link`, `work/`, `merged/`, and `empty/` (base layer) or
 * `lower` (child). Returns the layer's new short link name; the `l/`
 * symlink is made when the layer is committed.
 *
 * Owners and modes as upstream: the layer directory belongs to root of
 * the layer's maps; `diff/` and the other directories to the owner of the
 * parent's layer directory (root of the maps for a base layer); `diff/`
 * takes the parent's `diff/` mode (0555 for a base layer).
 */
export function buildLayerDir(
  layout: OverlayLayout,
  dir: string,
  parentID: string | undefined,
  maps: IDMappings,
): string {
  const root = rootPair(maps);
  mkdirAs(dir, 0o700, root.uid, root.gid);
  let owner = root;
  let diffMode = DEFAULT_DIFF_MODE;
  let parentDir: string | undefined;
  if (parentID !== undefined) {
    parentDir = layout.layerDir(parentID);
    const st = Deno.statSync(parentDir);
    owner = { uid: st.uid!, gid: st.gid! };
    diffMode = Deno.statSync(join(parentDir, "diff")).mode! & 0o7777;
  }
  mkdirAs(join(dir, "diff"), diffMode, owner.uid, owner.gid);
  const lid = newLinkID();
  Deno.writeTextFileSync(join(dir, "link"), lid, { mode: 0o644 });
  mkdirAs(join(dir, "work"), 0o700, owner.uid, owner.gid);
  mkdirAs(join(dir, "merged"), 0o700, owner.uid, owner.gid);
  if (parentDir === undefined) {
    mkdirAs(join(dir, "empty"), 0o700, owner.uid, owner.gid);
  } else {
    Deno.writeTextFileSync(join(dir, "lower"), layout.lowerFor(parentDir), { mode: 0o644 });
  }
  return lid;
}

/**
 * After the contents were re-owned through a mount (which copied them up
 * into `diff/`): `diff` becomes `diff1` (older `diffN` move up by one),
 * `work/` is recreated so it keeps no reference to the old upper, and a
 * fresh empty `diff/` with the old mode is made, owned by root of `to`.
 */
export function rotateDiffs(dir: string, to: IDMappings): void {
  const mode = Deno.statSync(join(dir, "diff")).mode! & 0o7777;
  let n = 0;
  while (exists(join(dir, diffName(n + 1)))) n++;
  for (let i = n; i >= 0; i--) Deno.renameSync(join(dir, diffName(i)), join(dir, diffName(i + 1)));
  const root = rootPair(to);
  Deno.removeSync(join(dir, "work"), { recursive: true });
  mkdirAs(join(dir, "work"), DEFAULT_DIFF_MODE, root.uid, root.gid);
  mkdirAs(join(dir, "diff"), mode, root.uid, root.gid);
}
