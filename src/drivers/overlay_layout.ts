/**
 * The overlay driver's directory layout (layout.md §4.1–4.2): one directory
 * per layer under the home, short link names in `l/`, and the `lower`
 * chains that tie a layer to its parents. Podman and the Go tools read
 * these files, so their names, contents and modes follow upstream exactly.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { isNotFound, StorageError } from "../errors.ts";
import { symlink } from "../sys/libc.ts";
import { openInside, type VerifiedDirs } from "./open_inside.ts";
import type { ReadFile } from "../sys/fs_ops.ts";

/** The directory of short links, relative to the home. */
export const LINK_DIR = "l";
/** The most lower layers a mount accepts (upstream's limit, also the kernel's). */
export const MAX_DEPTH = 500;
/** Length of a short link name. */
export const LINK_ID_LENGTH = 26;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * A new short link name: the first 26 characters of the RFC 4648 base32
 * encoding of 17 random bytes. 26 characters keep `l/<LID>:` at 29 bytes,
 * so about 128 lowers fit in one page of mount data.
 */
export function newLinkID(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(17));
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out.slice(0, LINK_ID_LENGTH);
}

/** True for a name that looks like a layer ID (64 hex digits), as upstream's layer listing checks. */
export function looksLikeID(name: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(name);
}

/** `diff`, `diff1`, `diff2`, … */
export function diffName(n: number): string {
  return n === 0 ? "diff" : `diff${n}`;
}

/** Where a layer's directory is: ours, or an additional image store's. */
export interface LayerLocation {
  dir: string;
  /** The layer lives in an additional (read-only) store. */
  additional: boolean;
}

/** Directory lookups for one overlay home and its additional image stores. */
export class OverlayLayout {
  /** `GR/overlay`. */
  readonly home: string;
  /** Graph roots of additional image stores. */
  readonly imageStores: readonly string[];

  constructor(home: string, imageStores: readonly string[]) {
    this.home = home;
    this.imageStores = imageStores;
  }

  /** `H/l`. */
  get linkDir(): string {
    return join(this.home, LINK_DIR);
  }

  /**
   * A path under the home (`<id>`, `l/<LID>`, `<id>/diff`), or the same path
   * in the first additional store that has it when ours does not.
   */
  locate(rel: string): LayerLocation {
    const own = join(this.home, rel);
    if (exists(own)) return { dir: own, additional: false };
    for (const store of this.imageStores) {
      const p = join(store, "overlay", rel);
      if (exists(p)) return { dir: p, additional: true };
    }
    return { dir: own, additional: false };
  }

  /** The directory of layer `id`. */
  layerDir(id: string): string {
    return this.locate(id).dir;
  }

  /**
   * The `lower` file a child of `parentDir` gets: the parent's own short
   * link, then the parent's lowers (nearest first).
   */
  lowerFor(parentDir: string): string {
    let link = readText(join(parentDir, "link"));
    if (link === null) {
      this.recreateLinks();
      link = readText(join(parentDir, "link"));
      if (link === null) {
        throw new StorageError("driver", undefined, {
          message: `overlay: layer ${parentDir} has no link file`,
        });
      }
    }
    const lowers = [`${LINK_DIR}/${link.trim()}`];
    const parentLower = readText(join(parentDir, "lower"));
    if (parentLower !== null && parentLower !== "") lowers.push(...parentLower.split(":"));
    return lowers.join(":");
  }

  /**
   * The `diff/` directories of a layer's lowers, nearest first, found by
   * following the short links (what native diffs compare against and
   * what tar-split reassembly reads lower files from).
   */
  lowerDiffDirs(layerDir: string): string[] {
    const out: string[] = [];
    for (const entry of readLowerEntries(layerDir)) {
      let target = this.readShortLink(entry);
      if (target === null) {
        this.recreateLinks();
        target = this.readShortLink(entry);
        if (target === null) {
          throw new StorageError("driver", undefined, {
            message: `overlay: lower layer ${entry} of ${layerDir} is missing`,
          });
        }
      }
      // "../<id>/diff" from l/ is "<id>/diff" from the home.
      const rel = target.replace(/^\.\.\//, "");
      out.push(this.locate(rel).dir);
    }
    return out;
  }

  /** The target of short link `l/<LID>` (ours or an additional store's), or null. */
  readShortLink(entry: string): string | null {
    const loc = this.locate(entry);
    try {
      return Deno.readLinkSync(loc.dir);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Rebuilds `l/` after a crash lost links (upstream does the same when a
   * link is missing): every layer's `link` file gets its symlink back, and
   * a well-formed symlink whose layer lost its `link` file rewrites it.
   */
  recreateLinks(): void {
    Deno.mkdirSync(this.linkDir, { recursive: true, mode: 0o755 });
    for (const e of Deno.readDirSync(this.home)) {
      if (!e.isDirectory || !looksLikeID(e.name)) continue;
      const link = readLinkName(join(this.home, e.name));
      if (!link) continue;
      const path = join(this.linkDir, link);
      try {
        Deno.lstatSync(path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        symlink(`../${e.name}/diff`, path);
      }
    }
    for (const e of Deno.readDirSync(this.linkDir)) {
      let target: string;
      try {
        target = Deno.readLinkSync(join(this.linkDir, e.name));
      } catch {
        continue;
      }
      const parts = target.split("/");
      if (parts.length !== 3 || parts[0] !== ".." || parts[2] !== "diff") continue;
      if (!looksLikeID(parts[1])) continue; // `../../diff` would name the graph root
      const linkFile = join(this.home, parts[1], "link");
      if (!exists(join(this.home, parts[1]))) continue;
      if (readText(linkFile) !== e.name) Deno.writeTextFileSync(linkFile, e.name, { mode: 0o644 });
    }
  }
}

/**
 * True when `from` is the layer's real lower: its first lower `diff/` is
 * `from`'s (or both are absent). Mapped copies made from a template fail
 * this, since their lower is the template, not the recorded parent.
 */
export function isRealParent(
  layout: OverlayLayout,
  layer: { id: string },
  from: { id: string } | undefined,
): boolean {
  const lowers = layout.lowerDiffDirs(layout.layerDir(layer.id));
  if (from === undefined) return lowers.length === 0;
  if (lowers.length === 0) return false;
  return dirname(lowers[0]) === layout.layerDir(from.id);
}

/** The entries of a layer's `lower` file (`l/<LID>` each); empty for a base layer. */
export function readLowerEntries(layerDir: string): string[] {
  const text = readText(join(layerDir, "lower"));
  if (text === null || text === "") return [];
  return text.split(":").filter((s) => s !== "");
}

/**
 * The short link name in a layer's `link` file, or undefined when there is
 * none. It becomes a path under `l/`, so anything but letters and digits
 * (what upstream and cstor write) is refused: a `link` file saying
 * `../../x` must not make a layer removal delete `x`.
 */
export function readLinkName(layerDir: string): string | undefined {
  const text = readText(join(layerDir, "link"))?.trim();
  return text !== undefined && /^[A-Za-z0-9]+$/.test(text) ? text : undefined;
}

/** A small text file, or null when it does not exist. */
export function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (isNotFound(err) || err instanceof Deno.errors.NotADirectory) return null;
    throw err;
  }
}

/** True when something exists at `path` (following symlinks, as Go's `os.Stat`). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a file of the layer by tar name for tar-split reassembly: the first
 * of the layer's own `diff/` and its lowers' `diff/`s that has it (a
 * mapped copy's files live in the template it was made from).
 */
export async function openLayerFile(
  layout: OverlayLayout,
  layer: { id: string },
  name: string,
  verified?: VerifiedDirs,
): Promise<ReadFile | null> {
  const dir = layout.layerDir(layer.id);
  let firstError: unknown;
  for (const d of [join(dir, "diff"), ...layout.lowerDiffDirs(dir)]) {
    try {
      const f = await openInside(d, name, verified);
      if (f !== null) return f;
    } catch (err) {
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
  return null;
}
