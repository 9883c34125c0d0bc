/**
 * The slowest part of a full check: what a layer's tree should hold,
 * worked out from the diffs of the layer and all its parents, compared
 * with what its tree does hold. Regenerating the diff from tar-split (see
 * check_layers.ts) proves the files the diff names still have their
 * contents; only this walk finds files that should not be there, files
 * that vanished without content (directories, links, empty files), and
 * changed types, modes, sizes and owners.
 *
 * @module
 */

import { join } from "node:path";
import { cleanPath } from "../path.ts";
import { type IDMap, toHost } from "../archive/idmap.ts";
import { type TarHeader, TYPE } from "../archive/tar_types.ts";
import { typeOf } from "../archive/diff_tar.ts";

/** What one path of the tree should be. */
interface Expected {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** A parent directory the diff never listed: extraction made it with defaults. */
  implicit: boolean;
}

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";

/** Tree entries after applying `diffs` (lowest layer first), by cleaned relative path. */
export function expectedTree(diffs: TarHeader[][]): Map<string, Expected> {
  const tree = new Map<string, Expected>();
  const removeBelow = (dir: string) => {
    const prefix = dir === "" ? "" : `${dir}/`;
    for (const p of [...tree.keys()]) if (p.startsWith(prefix) && p !== dir) tree.delete(p);
  };
  for (const headers of diffs) {
    // Opaque markers hide the lower layers' contents of their directory,
    // wherever in this layer's stream they come.
    for (const h of headers) {
      const { dir, base } = split(relative(h.name));
      if (base === OPAQUE) removeBelow(dir);
    }
    for (const h of headers) {
      const name = relative(h.name);
      if (name === "") continue;
      const { dir, base } = split(name);
      if (base === OPAQUE) continue;
      if (base.startsWith(WHITEOUT)) {
        const target = dir === ""
          ? base.slice(WHITEOUT.length)
          : `${dir}/${base.slice(WHITEOUT.length)}`;
        tree.delete(target);
        removeBelow(target);
        continue;
      }
      addParents(tree, dir);
      if (h.type === TYPE.hardlink) {
        // A hard link is the same inode as its target.
        const target = tree.get(relative(h.linkname));
        tree.set(name, target ? { ...target } : { ...entryOf(h), type: TYPE.file, implicit: true });
        continue;
      }
      const existing = tree.get(name);
      if (h.type === TYPE.dir && existing?.type === TYPE.dir && existing.implicit) {
        tree.set(name, entryOf(h));
      } else {
        if (existing?.type === TYPE.dir && h.type !== TYPE.dir) removeBelow(name);
        tree.set(name, entryOf(h));
      }
    }
  }
  return tree;
}

function entryOf(h: TarHeader): Expected {
  const type = h.type === TYPE.contiguous ? TYPE.file : h.type;
  return {
    type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: type === TYPE.file ? h.size : 0,
    implicit: false,
  };
}

function addParents(tree: Map<string, Expected>, dir: string): void {
  if (dir === "" || tree.has(dir)) return;
  addParents(tree, split(dir).dir);
  tree.set(dir, { type: TYPE.dir, mode: 0o755, uid: 0, gid: 0, size: 0, implicit: true });
}

function relative(name: string): string {
  const c = cleanPath(`/${name}`);
  return c === "/" ? "" : c.slice(1);
}

function split(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf("/");
  return i < 0 ? { dir: "", base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}

/** Options of {@link compareTree}. */
export interface CompareOptions {
  /** The layer's maps: tar owners are container IDs, the tree's are host IDs. */
  uidMap: IDMap[];
  gidMap: IDMap[];
  /** Skip owners (the store was told to ignore chown errors). */
  ignoreOwners: boolean;
}

/** Differences between the tree at `root` and `expected`, as `"/path": what` lines. */
export async function compareTree(
  root: string,
  expected: Map<string, Expected>,
  options: CompareOptions,
): Promise<string[]> {
  const actual = new Map<string, Deno.FileInfo>();
  await walk(root, "", actual);
  const out: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (got === undefined) {
      out.push(`"/${path}": missing`);
      continue;
    }
    const diffs: string[] = [];
    const type = typeOf(got) ?? "?";
    if (type !== want.type) diffs.push(`filetype:${want.type}→${type}`);
    if (!want.implicit && type === want.type) {
      if (type === TYPE.file && got.size !== want.size) {
        diffs.push(`size:${want.size}→${got.size}`);
      }
      const mode = (got.mode ?? 0) & 0o7777;
      if (type !== TYPE.symlink && mode !== want.mode) {
        diffs.push(`mode:${octal(want.mode)}→${octal(mode)}`);
      }
      if (!options.ignoreOwners) {
        const uid = toHost(want.uid, options.uidMap);
        const gid = toHost(want.gid, options.gidMap);
        if (got.uid !== uid) diffs.push(`uid:${uid}→${got.uid}`);
        if (got.gid !== gid) diffs.push(`gid:${gid}→${got.gid}`);
      }
    }
    if (diffs.length > 0) out.push(`"/${path}": ${diffs.join(",")}`);
  }
  for (const path of actual.keys()) {
    if (!expected.has(path)) out.push(`"/${path}": unexpected`);
  }
  return out;
}

async function walk(root: string, rel: string, out: Map<string, Deno.FileInfo>): Promise<void> {
  for await (const entry of Deno.readDir(join(root, rel))) {
    const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
    const info = await Deno.lstat(join(root, path));
    out.set(path, info);
    if (info.isDirectory) await walk(root, path, out);
  }
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
