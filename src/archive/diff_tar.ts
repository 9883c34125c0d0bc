/**
 * Producing a layer tarball from directories (spec `layers-and-diffs.md`
 * §4.2): the naive export of a whole tree or of its changes against a
 * parent, and the overlay-native export of an upper `diff/` directory.
 *
 * Entry names are relative without `./`, directories end in `/`, the root
 * is not included, later names of a multiply-linked inode become hard-link
 * entries, sockets are skipped, `security.capability`, `security.ima` and
 * `user.*` xattrs are carried, owners are mapped host→container.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { requireLibc, splitDev } from "../sys/libc.ts";
import { changes, type ChangesOptions, isWhiteoutDevice, LowerView } from "./changes.ts";
import { type IDMap, tryToContainer } from "./idmap.ts";
import { tarStream, type TarWriteHeader, type TarWriter } from "./tar_writer.ts";
import { TYPE } from "./tar_types.ts";
import { lstatOrNull, readXattr, readXattrs, walkTree } from "./tree_walk.ts";

const WH = ".wh.";
const WH_OPAQUE = ".wh..wh..opq";
const READ_CHUNK = 1 << 20;

/** Options of {@link naiveDiff}. */
export interface NaiveDiffOptions extends ChangesOptions {
  /**
   * Like Go, hold the end of the stream until the next whole second after
   * the diff started, so that changes made right after it get a different
   * mtime second than what the diff saw (default true).
   */
  settle?: boolean;
}

/**
 * The naive diff of `layerDir`: the whole tree when `parentDir` is
 * undefined, otherwise the paths {@link changes} reports, sorted by path,
 * with deletions as empty `.wh.<name>` files (mode 0, current time).
 * Uncompressed tar; needs FFI (xattrs are read).
 */
export function naiveDiff(
  layerDir: string,
  parentDir: string | undefined,
  options: NaiveDiffOptions = {},
): ReadableStream<Uint8Array> {
  requireLibc("exporting a layer diff (reads xattrs)");
  const started = Date.now();
  return tarStream(async (tw) => {
    const ap = new Appender(tw, options.uidMap, options.gidMap);
    if (parentDir === undefined) {
      const list: Array<[string, string, Deno.FileInfo]> = [];
      walkTree(layerDir, (e) => {
        list.push([e.abs, e.rel, e.info]);
      });
      for (const [abs, rel, info] of list) await ap.add(abs, rel, info);
    } else {
      const now = Math.floor(Date.now() / 1000);
      for (const c of await changes(layerDir, parentDir, options)) {
        const rel = c.Path.substring(1);
        if (c.Kind === 2) {
          const i = rel.lastIndexOf("/");
          const name = i < 0 ? WH + rel : `${rel.substring(0, i)}/${WH}${rel.substring(i + 1)}`;
          await tw.writeHeader({ name, type: TYPE.file, mode: 0, mtimeSec: now });
          continue;
        }
        const abs = layerDir + c.Path;
        const info = lstatOrNull(abs);
        // Gone since the comparison (a running container): as Go, leave it out.
        if (info === null) continue;
        await ap.add(abs, rel, info);
      }
    }
    if (options.settle ?? true) {
      const wait = Math.floor(started / 1000) * 1000 + 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  });
}

/** Options of {@link overlayDiff}. */
export interface OverlayDiffOptions {
  /** The layer's maps: owners are written as container IDs. */
  uidMap?: IDMap[];
  gidMap?: IDMap[];
  /**
   * `overlay` (default): 0:0 character devices and opaque directories are
   * converted to AUFS whiteout entries; `aufs` (mount program): `.wh.*`
   * files on disk are archived as they are.
   */
  whiteouts?: "overlay" | "aufs";
  /** Opaque directories carry `user.overlay.opaque` instead of `trusted.overlay.opaque`. */
  rootless?: boolean;
}

/**
 * The overlay-native diff of an upper `diffDir` whose lower directories
 * (highest first) are `lowerDirs`: a 0:0 character device becomes an empty
 * `.wh.<name>` file (mode 0, owner as on disk); an opaque directory is
 * followed by `<dir>/.wh..wh..opq` only when the directory exists in a lower
 * and is not whited out there.
 */
export function overlayDiff(
  diffDir: string,
  lowerDirs: readonly string[],
  options: OverlayDiffOptions = {},
): ReadableStream<Uint8Array> {
  requireLibc("exporting an overlay layer diff (reads xattrs)");
  const convert = (options.whiteouts ?? "overlay") === "overlay";
  const opaqueKey = options.rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";
  const lowers = lowerDirs.map((d) => new LowerView(d));

  /** Whether an opaque `rel` hides something of a lower layer (Go's ConvertWrite rule). */
  const hidesLower = (rel: string): boolean => {
    for (const lower of lowers) {
      const st = lower.stat(rel);
      if (st !== null) return !isWhiteoutDevice(st);
      for (let i = rel.lastIndexOf("/"); i > 0; i = rel.lastIndexOf("/", i - 1)) {
        const p = lower.stat(rel.substring(0, i));
        if (p !== null && isWhiteoutDevice(p)) return false;
      }
    }
    return false;
  };

  return tarStream(async (tw) => {
    const ap = new Appender(tw, options.uidMap, options.gidMap, opaqueKey);
    const list: Array<[string, string, Deno.FileInfo]> = [];
    walkTree(diffDir, (e) => {
      list.push([e.abs, e.rel, e.info]);
    });
    for (const [abs, rel, info] of list) {
      if (convert && isWhiteoutDevice(info)) {
        const i = rel.lastIndexOf("/");
        const name = i < 0 ? WH + rel : `${rel.substring(0, i)}/${WH}${rel.substring(i + 1)}`;
        await tw.writeHeader({
          name,
          type: TYPE.file,
          mode: 0,
          uid: info.uid!,
          gid: info.gid!,
          mtimeSec: mtimeSeconds(info),
        });
        continue;
      }
      const h = await ap.add(abs, rel, info);
      if (convert && h !== null && info.isDirectory) {
        const v = readXattr(abs, opaqueKey);
        if (v !== null && v.length === 1 && v[0] === 0x79 && hidesLower(rel)) {
          await tw.writeHeader({
            name: `${rel}/${WH_OPAQUE}`,
            type: TYPE.file,
            mode: (h.mode ?? 0) & 0o777,
            uid: h.uid,
            gid: h.gid,
            uname: h.uname,
            gname: h.gname,
          });
        }
      }
    }
  });
}

/** Whole seconds of a FileInfo's mtime (Go truncates diff times to seconds). */
function mtimeSeconds(info: Deno.FileInfo): number {
  return Math.floor((info.mtime?.getTime() ?? 0) / 1000);
}

/** Writes paths as tar entries, tracking hard links. */
class Appender {
  readonly #tw: TarWriter;
  readonly #uidMap?: IDMap[];
  readonly #gidMap?: IDMap[];
  readonly #dropXattr?: string;
  readonly #links = new Map<string, string>();

  constructor(tw: TarWriter, uidMap?: IDMap[], gidMap?: IDMap[], dropXattr?: string) {
    this.#tw = tw;
    this.#uidMap = uidMap;
    this.#gidMap = gidMap;
    this.#dropXattr = dropXattr;
  }

  /** Writes `abs` as entry `rel`; returns the header, or null for skipped sockets. */
  async add(abs: string, rel: string, info: Deno.FileInfo): Promise<TarWriteHeader | null> {
    const type = typeOf(info);
    if (type === null) return null;
    const h: TarWriteHeader = {
      name: info.isDirectory ? `${rel}/` : rel,
      type,
      mode: info.mode! & 0o7777,
      uid: info.uid!,
      gid: info.gid!,
      mtimeSec: mtimeSeconds(info),
    };
    const base = rel.substring(rel.lastIndexOf("/") + 1);
    // Whiteout files were made by the kernel or a mount program with host owners already right.
    if (!base.startsWith(WH)) {
      const uid = tryToContainer(info.uid!, this.#uidMap);
      const gid = tryToContainer(info.gid!, this.#gidMap);
      if (uid === undefined || gid === undefined) {
        throw new StorageError("invalid-input", undefined, {
          message:
            `exporting ${JSON.stringify(rel)}: host ID pair {UID:${info.uid} GID:${info.gid}} ` +
            `cannot be mapped to a container ID`,
        });
      }
      h.uid = uid;
      h.gid = gid;
    }
    if (info.isSymlink) h.linkname = Deno.readLinkSync(abs);
    if (info.isCharDevice || info.isBlockDevice) {
      const { major, minor } = splitDev(info.rdev ?? 0);
      h.devmajor = major;
      h.devminor = minor;
    }
    const xattrs = carried(abs, this.#dropXattr);
    if (xattrs.size > 0) h.xattrs = xattrs;
    if (!info.isDirectory && info.nlink! > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) {
        h.type = TYPE.hardlink;
        h.linkname = first;
        h.size = 0;
        await this.#tw.writeHeader(h);
        return h;
      }
      this.#links.set(key, rel);
    }
    if (type !== TYPE.file) {
      await this.#tw.writeHeader(h);
      return h;
    }
    h.size = info.size;
    await this.#tw.writeHeader(h);
    await this.#body(abs, info.size);
    return h;
  }

  /** Exactly `size` bytes of the file: zeros if it shrank meanwhile, cut if it grew. */
  async #body(abs: string, size: number): Promise<void> {
    if (size === 0) return;
    const f = Deno.openSync(abs);
    try {
      let left = size;
      while (left > 0) {
        const buf = new Uint8Array(Math.min(left, READ_CHUNK));
        let n = 0;
        while (n < buf.length) {
          const r = f.readSync(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        // A short read means the file shrank: the zeros already in buf pad it.
        await this.#tw.writeBody(buf);
        left -= buf.length;
      }
    } finally {
      f.close();
    }
  }
}

/** Tar type of a path, or null for sockets (not archivable). */
export function typeOf(info: Deno.FileInfo): string | null {
  if (info.isFile) return TYPE.file;
  if (info.isDirectory) return TYPE.dir;
  if (info.isSymlink) return TYPE.symlink;
  if (info.isCharDevice) return TYPE.char;
  if (info.isBlockDevice) return TYPE.block;
  if (info.isFifo) return TYPE.fifo;
  return null;
}

/** The xattrs a diff carries: `security.capability`, `security.ima`, `user.*`. */
function carried(abs: string, drop?: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const all = readXattrs(abs);
  if (all === null) return out;
  for (const [k, v] of all) {
    if (k === drop) continue;
    if (k === "security.capability" || k === "security.ima" || k.startsWith("user.")) {
      out.set(k, v);
    }
  }
  return out;
}
