/**
 * What a layer changed relative to its parent (spec `layers-and-diffs.md`
 * §5): naive tree comparison ({@link changes}) and the overlay-native walk
 * of an upper `diff/` directory ({@link overlayChanges}).
 *
 * Times come from Deno's `lstat`, which has millisecond precision; the
 * "same second, one side without fraction" rule of Go is applied to those.
 *
 * @module
 */

import { type IDMap, tryToContainer } from "./idmap.ts";
import { compareBytes, lstatOrNull, readXattr, readXattrs, S_IFDIR, S_IFMT } from "./tree_walk.ts";

/**
 * Kind of a {@link Change}: 0 Modify, 1 Add, 2 Delete (Go's numbering).
 *
 * @example
 * ```ts
 * import type { ChangeKind } from "@cstor/storage";
 * const added: ChangeKind = 1;
 * console.log(added);
 * ```
 */
export type ChangeKind = 0 | 1 | 2;

/** The kinds by name. */
export const ChangeKinds = { Modify: 0, Add: 1, Delete: 2 } as const;

/**
 * One changed path, shaped like Go's `archive.Change` (and its JSON).
 *
 * @example
 * ```ts
 * import { openStore } from "@cstor/storage";
 * const store = await openStore({ graphRoot: "/tmp/g", runRoot: "/tmp/r", driver: "vfs" });
 * for (const { Path, Kind } of await store.changes("my-layer")) console.log(["M", "A", "D"][Kind], Path);
 * ```
 */
export interface Change {
  /** Absolute path inside the layer, `/etc/passwd`. */
  Path: string;
  /** 0 Modify, 1 Add, 2 Delete. */
  Kind: ChangeKind;
}

/** Options of {@link changes}. */
export interface ChangesOptions {
  /** The layer's maps: its owners are compared as container IDs. */
  uidMap?: IDMap[];
  gidMap?: IDMap[];
  /** The parent's maps (default: the layer's). */
  parentUidMap?: IDMap[];
  parentGidMap?: IDMap[];
}

/** What the comparison needs of one path. */
interface Node {
  name: string;
  info: Deno.FileInfo;
  abs: string;
}

const YIELD_EVERY = 1024;

function readChildren(abs: string): Map<string, Node> {
  const out = new Map<string, Node>();
  let names: string[];
  try {
    names = [...Deno.readDirSync(abs)].map((d) => d.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return out;
    throw err;
  }
  for (const name of names) {
    const p = `${abs}/${name}`;
    const info = lstatOrNull(p);
    if (info !== null) out.set(name, { name, info, abs: p });
  }
  return out;
}

/** Seconds and nanoseconds of a time as Deno reports it (milliseconds). */
function timeParts(d: Date | null): [number, number] {
  const ms = d?.getTime() ?? 0;
  const sec = Math.floor(ms / 1000);
  return [sec, (ms - sec * 1000) * 1e6];
}

/**
 * Go's loose time equality: identical, or one side has no fraction (it
 * went through a tar format that rounds) and the seconds agree, allowing
 * the rounded side to have been rounded up.
 */
export function sameFsTime(a: Date | null, b: Date | null): boolean {
  const [as, an] = timeParts(a);
  const [bs, bn] = timeParts(b);
  if (as === bs && an === bn) return true;
  if (an !== 0 && bn !== 0) return false;
  if (as === bs) return true;
  if (bn === 0 && as === bs - 1) return true;
  if (an === 0 && as - 1 === bs) return true;
  return false;
}

/**
 * `security.capability`, `security.ima` and `user.*` attributes, the ones a
 * diff carries, as comparable text (Go compares the capability only; a
 * change of the others would otherwise never reach a diff).
 */
function carriedXattrs(abs: string): string {
  const xs = readXattrs(abs);
  if (xs === null || xs.size === 0) return "";
  const parts: string[] = [];
  for (const [k, v] of xs) {
    if (k === "security.capability" || k === "security.ima" || k.startsWith("user.")) {
      parts.push(`${k}=${[...v].join(",")}`);
    }
  }
  return parts.sort().join(";");
}

/** Owner as container IDs; when either ID is outside the maps both stay raw (as Go). */
function containerOwner(info: Deno.FileInfo, u?: IDMap[], g?: IDMap[]): [number, number] {
  const uid = tryToContainer(info.uid!, u);
  const gid = tryToContainer(info.gid!, g);
  if (uid === undefined || gid === undefined) return [info.uid!, info.gid!];
  return [uid, gid];
}

/**
 * Naive changes of the tree `layerDir` against `parentDir` (an empty tree
 * when undefined), sorted by path. Only-in-layer paths are Adds (with all
 * their contents), only-in-parent paths are Deletes (top-most only), paths
 * in both are Modifies when type/mode, owner (as container IDs), device, or
 * — for non-directories — size or mtime differ, or the carried xattrs
 * differ. A directory with changes inside is reported as modified too.
 */
export async function changes(
  layerDir: string,
  parentDir: string | undefined,
  options: ChangesOptions = {},
): Promise<Change[]> {
  const out: Change[] = [];
  const pu = options.parentUidMap ?? options.uidMap;
  const pg = options.parentGidMap ?? options.gidMap;
  let count = 0;

  const different = (o: Node, n: Node): boolean => {
    const om = o.info.mode!;
    const nm = n.info.mode!;
    if (om !== nm) return true;
    const [ou, og] = containerOwner(o.info, pu, pg);
    const [nu, ng] = containerOwner(n.info, options.uidMap, options.gidMap);
    if (ou !== nu || og !== ng) return true;
    if ((o.info.rdev ?? 0) !== (n.info.rdev ?? 0)) return true;
    // Sizes and times of directories say nothing about their contents.
    if ((om & S_IFMT) !== S_IFDIR) {
      if (!sameFsTime(o.info.mtime, n.info.mtime) || o.info.size !== n.info.size) return true;
    }
    return carriedXattrs(o.abs) !== carriedXattrs(n.abs);
  };

  /** Appends the changes below `path` (a directory of the layer); true when any. */
  const walk = async (
    path: string,
    newAbs: string,
    oldAbs: string | undefined,
  ): Promise<boolean> => {
    const before = out.length;
    const newKids = readChildren(newAbs);
    const oldKids = oldAbs === undefined ? new Map<string, Node>() : readChildren(oldAbs);
    for (const [name, n] of newKids) {
      if (++count % YIELD_EVERY === 0) await new Promise((r) => setTimeout(r, 0));
      const p = path === "/" ? `/${name}` : `${path}/${name}`;
      const o = oldKids.get(name);
      let reported = false;
      if (o === undefined) {
        out.push({ Path: p, Kind: 1 });
        reported = true;
      } else {
        oldKids.delete(name);
        if (different(o, n)) {
          out.push({ Path: p, Kind: 0 });
          reported = true;
        }
      }
      if (n.info.isDirectory) {
        // Old contents only count when both sides are directories: a
        // directory that replaced a file has only additions inside.
        const inner = await walk(p, n.abs, o?.info.isDirectory ? o.abs : undefined);
        if (inner && !reported) out.push({ Path: p, Kind: 0 });
      }
    }
    for (const name of oldKids.keys()) {
      out.push({ Path: path === "/" ? `/${name}` : `${path}/${name}`, Kind: 2 });
    }
    return out.length > before;
  };

  await walk("/", layerDir, parentDir);
  out.sort((a, b) => compareBytes(a.Path, b.Path));
  return out;
}

/** Options of {@link overlayChanges}. */
export interface OverlayChangesOptions {
  /** Opaque directories carry `user.overlay.opaque` instead of `trusted.overlay.opaque`. */
  rootless?: boolean;
}

/**
 * Looks paths up in a lower layer without following any symlink (Go's
 * `os.Stat` would; a layer's symlinks may point anywhere on the host),
 * caching what each directory is.
 */
export class LowerView {
  readonly #root: string;
  readonly #dirs = new Map<string, boolean>([["", true]]);

  constructor(root: string) {
    this.#root = root;
  }

  /** `lstat` of `rel` (`a/b`), or null when it, or a directory on the way, is not there. */
  stat(rel: string): Deno.FileInfo | null {
    const i = rel.lastIndexOf("/");
    if (!this.#isDir(i < 0 ? "" : rel.substring(0, i))) return null;
    try {
      return Deno.lstatSync(`${this.#root}/${rel}`);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return null;
      }
      throw err;
    }
  }

  #isDir(rel: string): boolean {
    const known = this.#dirs.get(rel);
    if (known !== undefined) return known;
    const info = this.stat(rel);
    const ok = info !== null && info.isDirectory;
    this.#dirs.set(rel, ok);
    return ok;
  }
}

/** True for an overlay whiteout: a character device 0:0. */
export function isWhiteoutDevice(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && (info.rdev ?? 0) === 0;
}

/**
 * Overlay-native changes of an upper `diff/` directory over its lower
 * directories (highest first), in walk order as Go reports them. A 0:0
 * character device is a Delete; an opaque directory that exists in a lower
 * is a Delete of that directory; other paths are Adds, or Modifies when a
 * lower has them (a directory equal in mode, size and mtime is skipped); a
 * path whose lower copy is whited out counts as new. Parents of Adds and
 * Deletes are inserted as Modifies before them.
 */
export async function overlayChanges(
  diffDir: string,
  lowerDirs: readonly string[],
  options: OverlayChangesOptions = {},
): Promise<Change[]> {
  const lowers = lowerDirs.map((d) => new LowerView(d));
  const opaqueKey = options.rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";
  const out: Change[] = [];
  const changedDirs = new Set<string>();
  let count = 0;

  const isOpaque = (abs: string): boolean => {
    const v = readXattr(abs, opaqueKey);
    return v !== null && v.length === 1 && v[0] === 0x79;
  };
  const whitedOut = (lower: LowerView, rel: string): boolean => {
    const st = lower.stat(rel);
    return st !== null && isWhiteoutDevice(st);
  };

  const classify = (rel: string, info: Deno.FileInfo, abs: string): ChangeKind | null => {
    if (isWhiteoutDevice(info)) return 2;
    if (info.isDirectory && isOpaque(abs)) {
      if (lowers.some((l) => l.stat(rel) !== null)) return 2;
    }
    for (const lower of lowers) {
      // Whited out in this lower (itself or a parent): what we have is new.
      if (whitedOut(lower, rel)) return 1;
      for (let i = rel.lastIndexOf("/"); i > 0; i = rel.lastIndexOf("/", i - 1)) {
        if (whitedOut(lower, rel.substring(0, i))) return 1;
      }
      const st = lower.stat(rel);
      if (st === null) continue;
      if (
        st.isDirectory && info.isDirectory && st.size === info.size && st.mode === info.mode &&
        sameFsTime(st.mtime, info.mtime)
      ) return null;
      return 0;
    }
    return 1;
  };

  const walk = async (dirRel: string, dirAbs: string): Promise<void> => {
    const names = [...Deno.readDirSync(dirAbs)].map((d) => d.name).sort(compareBytes);
    for (const name of names) {
      if (++count % YIELD_EVERY === 0) await new Promise((r) => setTimeout(r, 0));
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      const abs = `${dirAbs}/${name}`;
      const info = lstatOrNull(abs);
      if (info === null) continue;
      const kind = classify(rel, info, abs);
      if (kind !== null) {
        const path = `/${rel}`;
        if (info.isDirectory) changedDirs.add(path);
        if (kind !== 0) {
          const parents: Change[] = [];
          for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
            const parent = path.substring(0, i);
            if (changedDirs.has(parent)) continue;
            parents.unshift({ Path: parent, Kind: 0 });
            changedDirs.add(parent);
          }
          out.push(...parents);
        }
        out.push({ Path: path, Kind: kind });
      }
      if (info.isDirectory) await walk(rel, abs);
    }
  };

  await walk("", diffDir);
  return out;
}
