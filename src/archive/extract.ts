/**
 * Extracting a layer tarball into a directory (`ApplyDiff`, spec
 * `layers-and-diffs.md` §2 step 7 and §6).
 *
 * Safety comes first: every entry must stay below the target by plain path
 * components; symlinks below the target are never followed; hard links may
 * only point at paths that satisfy the same rule. Offending archives are
 * refused with an {@link UnsafeEntryError} naming the entry (see
 * `safe_path.ts`). Existing files are always unlinked before an entry is
 * created at their path, so nothing is ever written into an existing inode.
 *
 * Speed comes second: system calls are synchronous (cheaper than awaiting
 * each one), directories already checked are cached, a directory created by
 * names are created optimistically (an existing path costs an `lstat` only
 * when creation fails with EEXIST), and file bodies are written in large blocks through one
 * descriptor that also sets owner, mode and times.
 *
 * @module
 */

import { StorageError, wrapError } from "../errors.ts";
import { mknod, requireLibc, S_IFBLK, S_IFCHR, S_IFIFO } from "../sys/libc.ts";
import { type IDMap, tryToHost } from "./idmap.ts";
import {
  baseOf,
  DirGuard,
  entryPath,
  joinRel,
  parentOf,
  UnsafeEntryError,
  unsafeStatus,
} from "./safe_path.ts";
import { type TarEntry, type TarHeader, type TarReader, TYPE } from "./tar_types.ts";
import { hasErrno, lstatOrNull, writeXattr } from "./tree_walk.ts";
import { type FsOps, fsOps, type NewFile, type TimeSpec } from "../sys/fs_ops.ts";
import { cleanPath } from "../path.ts";

/** How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are applied. */
export type WhiteoutMode = "delete" | "overlay" | "aufs";

/** Options of {@link extractTar}. */
export interface ExtractOptions {
  /**
   * `delete`: whiteouts remove what they name (vfs, naive apply);
   * `overlay`: whiteouts become 0:0 character devices and opaque xattrs
   * (overlay `diff/`); `aufs`: whiteout files are written as they are
   * (overlay with a mount program).
   */
  whiteouts: WhiteoutMode;
  /** Container→host UID map for owners (absent/empty: IDs used as they are). */
  uidMap?: IDMap[];
  /** Container→host GID map for owners. */
  gidMap?: IDMap[];
  /** Owners that cannot be mapped or set are left as they fall instead of failing. */
  ignoreChownErrors?: boolean;
  /**
   * Running without real root: devices are skipped (they cannot be made),
   * xattrs the kernel refuses with EPERM are skipped, and the overlay opaque
   * marker is `user.overlay.opaque`.
   */
  rootless?: boolean;
  /** Called with every header, before the entry is applied. */
  onHeader?: (h: TarHeader) => void;
}

/** Result of {@link extractTar}. */
export interface ExtractResult {
  /** Sum of the header sizes of all entries (what Go's vfs reports). */
  size: number;
}

const WH = ".wh.";
const WH_META = ".wh..wh.";
const WH_OPAQUE = ".wh..wh..opq";
const WH_PLNK = ".wh..wh.plnk";

const BLOCK = 1 << 20;

/** A directory whose times are set at the end (later entries would change them). */
interface PendingDir {
  rel: string;
  atime: TimeSpec;
  mtime: TimeSpec;
}

/**
 * Extracts a tar stream into `dest` (created if missing).
 *
 * @example
 * ```ts
 * import { readTar } from "./tar_reader.ts";
 * import { extractTar } from "./extract.ts";
 * const file = await Deno.open("layer.tar");
 * await extractTar(readTar(file.readable), "/var/lib/layer", { whiteouts: "delete" });
 * ```
 * @throws UnsafeEntryError for an entry that would reach outside `dest`;
 *   StorageError `duplicates of file paths not supported` for two entries
 *   with the same cleaned name; the reader's errors for malformed input.
 */
export async function extractTar(
  reader: TarReader,
  dest: string,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const x = new Extractor(dest, options);
  try {
    for (;;) {
      const entry = await reader.next();
      if (entry === null) break;
      await x.apply(entry);
    }
    x.finish();
  } finally {
    x.cleanup();
  }
  return { size: x.size };
}

/** The state of one extraction. */
class Extractor {
  size = 0;
  readonly #dest: string;
  readonly #opts: ExtractOptions;
  readonly #guard: DirGuard;
  /** Cleaned names of all entries so far (duplicates are refused). */
  readonly #seen = new Set<string>();
  /** Paths this extraction created (entries, implied parents, whiteout devices). */
  readonly #created = new Set<string>();
  readonly #dirs: PendingDir[] = [];
  readonly #rootIDs: { uid: number; gid: number } | undefined;
  #plnkDir: string | undefined;
  readonly #plnk = new Set<string>();
  #buf: Uint8Array | undefined;
  /** The path calls (through libc when FFI is there: see fs_ops.ts for why). */
  readonly #fs: FsOps = fsOps();

  constructor(dest: string, opts: ExtractOptions) {
    this.#dest = cleanPath(dest);
    this.#opts = opts;
    Deno.mkdirSync(this.#dest, { recursive: true });
    const ru = tryToHost(0, opts.uidMap);
    const rg = tryToHost(0, opts.gidMap);
    // Directories the archive implies but does not list belong to the
    // container's root, as Go creates them.
    this.#rootIDs = (opts.uidMap?.length || opts.gidMap?.length) && ru !== undefined &&
        rg !== undefined
      ? { uid: ru, gid: rg }
      : undefined;
    this.#guard = new DirGuard(this.#dest, {
      onCreate: (abs, rel) => {
        this.#created.add(rel);
        if (this.#rootIDs) this.#chown(abs, this.#rootIDs.uid, this.#rootIDs.gid);
      },
    });
  }

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    this.size += h.size;
    this.#opts.onHeader?.(h);
    if (h.type === TYPE.paxGlobal) return;
    // Deno's path APIs take UTF-8 text: a name that is not would be written
    // under a different (replacement-character) name than the archive says.
    if (h.name.includes("\uFFFD") && !sameBytes(ENCODER.encode(h.name), h.nameBytes)) {
      throw new UnsafeEntryError(
        h.name,
        "has a name that is not valid UTF-8, which cannot be written",
      );
    }
    const rel = entryPath(h.name, this.#dest);
    if (this.#seen.has(rel)) {
      throw new StorageError("invalid-input", undefined, {
        message: "duplicates of file paths not supported",
      });
    }
    this.#seen.add(rel);
    try {
      await this.#dispatch(entry, rel);
    } catch (err) {
      if (err instanceof UnsafeEntryError) throw err;
      throw wrapError(err, `applying layer: entry ${JSON.stringify(h.name)}`);
    }
  }

  async #dispatch(entry: TarEntry, rel: string): Promise<void> {
    const h = entry.header;
    const mode = this.#opts.whiteouts;
    const base = baseOf(rel);
    if (mode === "delete") {
      if (rel.startsWith(WH_META)) {
        // AUFS metadata: not extracted, but hard-link targets in
        // .wh..wh.plnk/ are kept aside so links to them resolve.
        if (rel.startsWith(WH_PLNK + "/") && isFile(h.type)) await this.#plnkFile(entry, rel);
        if (rel !== WH_OPAQUE) return;
      }
      if (base === WH_OPAQUE) return this.#deleteOpaque(h.name, parentOf(rel));
      if (base.startsWith(WH)) return this.#deleteWhiteout(h.name, rel);
    } else if (mode === "overlay") {
      if (base === WH_OPAQUE) return this.#overlayOpaque(h.name, parentOf(rel));
      if (base.startsWith(WH)) return this.#overlayWhiteout(h, rel);
    }
    if (rel === ".") return this.#root(h);
    await this.#entry(entry, rel);
  }

  /** The archive's own entry for the target directory itself. */
  #root(h: TarHeader): void {
    if (h.type !== TYPE.dir) {
      throw new UnsafeEntryError(h.name, "would replace the layer directory with a non-directory");
    }
    // Go's naive apply merges the root's metadata; the overlay path skips it.
    if (this.#opts.whiteouts !== "delete") return;
    this.#meta(this.#dest, h, false);
    this.#dirs.push({ rel: ".", ...times(h) });
  }

  /** A regular entry: file, directory, link, device, fifo. */
  async #entry(entry: TarEntry, rel: string): Promise<void> {
    const h = entry.header;
    this.#guard.requireDir(parentOf(rel), true, h.name);
    const abs = this.#guard.abs(rel);
    switch (h.type) {
      case TYPE.dir:
        // Created or merged, it is now a real directory reached safely.
        this.#create(abs, rel, true, () => this.#fs.mkdir(abs, 0o700));
        this.#guard.verified(rel);
        this.#meta(abs, h, false);
        this.#dirs.push({ rel, ...times(h) });
        break;
      case TYPE.file:
      case TYPE.contiguous:
        await this.#writeFile(entry, abs, rel);
        break;
      case TYPE.symlink:
        this.#symlink(h, abs, rel);
        break;
      case TYPE.hardlink:
        this.#hardlink(h, abs, rel);
        break;
      case TYPE.char:
      case TYPE.block:
        // A user namespace cannot make devices; Go skips them there too.
        if (this.#opts.rootless) return;
        this.#mknod(h, abs, rel, h.type === TYPE.char ? S_IFCHR : S_IFBLK);
        break;
      case TYPE.fifo:
        this.#mknod(h, abs, rel, S_IFIFO);
        break;
      default:
        throw new StorageError("invalid-input", undefined, {
          message: `unhandled tar header type ${JSON.stringify(h.type)}`,
        });
    }
    this.#created.add(rel);
  }

  /**
   * Runs `make` to create `abs`. When something is already there, a
   * directory meeting a directory entry is kept (merged: returns false);
   * anything else is removed and `make` runs again. Trying first saves an
   * `lstat` per entry in the common case of a new name.
   */
  #create(abs: string, rel: string, isDir: boolean, make: () => void): boolean {
    try {
      make();
      return true;
    } catch (err) {
      if (!hasErrno(err, "EEXIST", 17) && !(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    const old = lstatOrNull(abs);
    if (old !== null) {
      if (old.isDirectory && isDir) return false;
      this.#remove(abs, rel, old.isDirectory);
    }
    make();
    return true;
  }

  /** Writes a regular file's body, then owner, xattrs, mode and times through its descriptor. */
  async #writeFile(entry: TarEntry, abs: string, rel: string): Promise<void> {
    const h = entry.header;
    let file: NewFile | undefined;
    this.#create(abs, rel, false, () => {
      file = this.#fs.createFile(abs, 0o600);
    });
    const f = file!;
    try {
      if (h.size > 0) await this.#copyBody(entry, f);
      const ids = this.#hostIDs(h);
      if (ids !== undefined) {
        try {
          f.chown(ids.uid, ids.gid);
        } catch (err) {
          if (!this.#opts.ignoreChownErrors) throw err;
        }
      }
      if (h.xattrs.size > 0) this.#xattrs(abs, h);
      // After chown, which clears setuid/setgid.
      f.chmod(h.mode & 0o7777);
      const t = times(h);
      f.setTimes(t.atime, t.mtime);
    } finally {
      f.close();
    }
  }

  /** Streams a body to `fd`, gathering small chunks into 1 MiB writes. */
  async #copyBody(entry: TarEntry, file: NewFile): Promise<void> {
    let fill = 0;
    for await (const chunk of entry.body()) {
      if (chunk.length >= BLOCK / 4 && fill === 0) {
        file.write(chunk);
        continue;
      }
      this.#buf ??= new Uint8Array(BLOCK);
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(BLOCK - fill, chunk.length - off);
        this.#buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === BLOCK) {
          file.write(this.#buf);
          fill = 0;
        }
      }
    }
    if (fill > 0) file.write(this.#buf!.subarray(0, fill));
  }

  #symlink(h: TarHeader, abs: string, rel: string): void {
    // Go refuses relative targets that climb out of the tree; absolute ones
    // are harmless (cstor never follows links below the target anyway).
    if (!h.linkname.startsWith("/")) {
      const target = cleanPath(joinRel(parentOf(rel), h.linkname));
      if (target === ".." || target.startsWith("../")) {
        throw new UnsafeEntryError(
          h.name,
          `is a symlink to ${JSON.stringify(h.linkname)}, outside the layer directory`,
        );
      }
    }
    this.#create(abs, rel, false, () => this.#fs.symlink(h.linkname, abs));
    this.#meta(abs, h, true);
    this.#times(abs, h, true);
  }

  #hardlink(h: TarHeader, abs: string, rel: string): void {
    const target = this.#linkTarget(h);
    if (target.abs === abs) {
      // Linking a name to itself: the entry would first remove its own target.
      throw new UnsafeEntryError(h.name, "is a hard link to itself");
    }
    this.#create(abs, rel, false, () => this.#fs.link(target.abs, abs));
    // Go applies the link header's owner to the shared inode, and its mode
    // and times unless the target is a symlink.
    this.#meta(abs, h, target.isSymlink);
    if (!target.isSymlink) this.#times(abs, h, false);
  }

  /** Validates a hard link's target: below the target dir, no symlinks on the way, existing. */
  #linkTarget(h: TarHeader): { abs: string; isSymlink: boolean } {
    const name = h.linkname;
    if (name === "" || name.startsWith("/") || name.includes("\0")) {
      throw new UnsafeEntryError(
        h.name,
        `is a hard link to ${JSON.stringify(name)}, outside the layer directory`,
      );
    }
    const trel = cleanPath(name);
    if (trel === "." || trel === ".." || trel.startsWith("../")) {
      throw new UnsafeEntryError(
        h.name,
        `is a hard link to ${JSON.stringify(name)}, outside the layer directory`,
      );
    }
    if (this.#opts.whiteouts === "delete" && trel.startsWith(WH_PLNK + "/")) {
      const b = baseOf(trel);
      if (this.#plnkDir === undefined || !this.#plnk.has(b)) {
        throw new StorageError("invalid-input", undefined, { message: "invalid aufs hardlink" });
      }
      return { abs: `${this.#plnkDir}/${b}`, isSymlink: false };
    }
    const st = this.#guard.dir(parentOf(trel), false);
    if (st !== "ok") {
      if (st === "missing") {
        throw new UnsafeEntryError(
          h.name,
          `is a hard link to ${JSON.stringify(name)}, which does not exist`,
        );
      }
      if ("symlink" in st) {
        throw new UnsafeEntryError(
          h.name,
          `is a hard link through symlink ${JSON.stringify(st.symlink)}`,
        );
      }
      throw unsafeStatus(h.name, st);
    }
    const tabs = this.#guard.abs(trel);
    const info = lstatOrNull(tabs);
    if (info === null) {
      throw new UnsafeEntryError(
        h.name,
        `is a hard link to ${JSON.stringify(name)}, which does not exist`,
      );
    }
    if (info.isDirectory) {
      throw new UnsafeEntryError(h.name, `is a hard link to directory ${JSON.stringify(name)}`);
    }
    return { abs: tabs, isSymlink: info.isSymlink };
  }

  #mknod(h: TarHeader, abs: string, rel: string, kind: number): void {
    requireLibc(`creating device or fifo ${JSON.stringify(h.name)}`);
    this.#create(
      abs,
      rel,
      false,
      () => mknod(abs, kind | (h.mode & 0o777), h.devmajor, h.devminor),
    );
    this.#meta(abs, h, false);
    this.#times(abs, h, false);
  }

  /** Owner, xattrs and mode (in that order: chown clears setuid bits and capabilities). */
  #meta(abs: string, h: TarHeader, isSymlink: boolean): void {
    const ids = this.#hostIDs(h);
    if (ids !== undefined) this.#chown(abs, ids.uid, ids.gid);
    if (h.xattrs.size > 0) this.#xattrs(abs, h);
    if (!isSymlink) this.#fs.chmod(abs, h.mode & 0o7777);
  }

  #chown(abs: string, uid: number, gid: number): void {
    try {
      this.#fs.lchown(abs, uid, gid);
    } catch (err) {
      if (!this.#opts.ignoreChownErrors) throw err;
    }
  }

  /** The host owner of an entry, or undefined to leave the owner alone (unmapped, ignored). */
  #hostIDs(h: TarHeader): { uid: number; gid: number } | undefined {
    const uid = tryToHost(h.uid, this.#opts.uidMap);
    const gid = tryToHost(h.gid, this.#opts.gidMap);
    if (uid !== undefined && gid !== undefined) return { uid, gid };
    if (this.#opts.ignoreChownErrors) return undefined;
    const what = uid === undefined ? `UID ${h.uid}` : `GID ${h.gid}`;
    throw new StorageError("invalid-input", undefined, {
      message: `container ${what} cannot be mapped to a host ID`,
    });
  }

  #xattrs(abs: string, h: TarHeader): void {
    requireLibc(`setting extended attributes of ${JSON.stringify(h.name)}`);
    for (const [name, value] of h.xattrs) {
      // In an overlay upper dir these would be read by the kernel as this
      // layer's own overlay metadata (redirects, opaque, metacopy): only the
      // whiteout conversion may create them.
      if (
        this.#opts.whiteouts === "overlay" &&
        (name.startsWith("trusted.overlay.") || name.startsWith("user.overlay."))
      ) continue;
      try {
        writeXattr(abs, name, value);
      } catch (err) {
        // Like Go: filesystems without xattrs, and EPERM inside a user namespace.
        if (hasErrno(err, "ENOTSUP", 95)) continue;
        if (this.#opts.rootless && hasErrno(err, "EPERM", 1)) continue;
        throw err;
      }
    }
  }

  #times(abs: string, h: TarHeader, isSymlink: boolean): void {
    const t = times(h);
    this.#fs.setTimes(abs, t.atime, t.mtime, isSymlink);
  }

  /** Removes an existing path an entry replaces or a whiteout names. */
  #remove(abs: string, rel: string, isDir: boolean): void {
    if (isDir) {
      Deno.removeSync(abs, { recursive: true });
      this.#guard.forget(rel);
    } else {
      Deno.removeSync(abs);
    }
  }

  /** Validates `<dir>/.wh.<name>` and returns `<dir>/<name>`. */
  #whiteoutTarget(name: string, rel: string): string {
    const target = baseOf(rel).substring(WH.length);
    if (target === "" || target === "." || target === "..") {
      throw new UnsafeEntryError(name, "is an invalid whiteout");
    }
    return joinRel(parentOf(rel), target);
  }

  /** vfs: `.wh.<name>` removes `<dir>/<name>` and everything below it. */
  #deleteWhiteout(name: string, rel: string): void {
    const target = this.#whiteoutTarget(name, rel);
    if (!this.#guard.requireDir(parentOf(target), false, name)) return;
    const abs = this.#guard.abs(target);
    const info = lstatOrNull(abs);
    if (info !== null) this.#remove(abs, target, info.isDirectory);
  }

  /** vfs: `.wh..wh..opq` removes every child of the directory this stream did not create. */
  #deleteOpaque(name: string, dirRel: string): void {
    if (!this.#guard.requireDir(dirRel, false, name)) return;
    const sweep = (rel: string): void => {
      const kids: Deno.DirEntry[] = [...Deno.readDirSync(this.#guard.abs(rel))];
      for (const k of kids) {
        const krel = joinRel(rel, k.name);
        if (!this.#created.has(krel)) this.#remove(this.#guard.abs(krel), krel, k.isDirectory);
        else if (k.isDirectory) sweep(krel);
      }
    };
    sweep(dirRel);
  }

  /** overlay: `.wh.<name>` becomes a 0:0 character device owned like the entry. */
  #overlayWhiteout(h: TarHeader, rel: string): void {
    const target = this.#whiteoutTarget(h.name, rel);
    const st = this.#guard.dir(parentOf(target), true);
    // A parent that is already a whiteout device: the kernel says ENOTDIR and Go ignores it.
    if (typeof st === "object" && "notDir" in st) return;
    if (st !== "ok") throw unsafeStatus(h.name, st as { symlink: string });
    const abs = this.#guard.abs(target);
    const old = lstatOrNull(abs);
    if (old !== null) this.#remove(abs, target, old.isDirectory);
    requireLibc(`creating whiteout ${JSON.stringify(h.name)}`);
    mknod(abs, S_IFCHR, 0, 0);
    const ids = this.#hostIDs(h);
    if (ids !== undefined) this.#chown(abs, ids.uid, ids.gid);
    this.#created.add(target);
  }

  /** overlay: `.wh..wh..opq` marks its directory opaque. */
  #overlayOpaque(name: string, dirRel: string): void {
    this.#guard.requireDir(dirRel, true, name);
    requireLibc(`marking ${JSON.stringify(name)} opaque`);
    const key = this.#opts.rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";
    writeXattr(this.#guard.abs(dirRel), key, new TextEncoder().encode("y"));
  }

  /** AUFS hard-link target: kept in a private directory until the end. */
  async #plnkFile(entry: TarEntry, rel: string): Promise<void> {
    if (this.#plnkDir === undefined) {
      this.#plnkDir = Deno.makeTempDirSync({ dir: this.#dest, prefix: ".cstor-plnk-" });
      // Not removed by an opaque whiteout of the root while we need it.
      this.#created.add(baseOf(this.#plnkDir));
    }
    const b = baseOf(rel);
    const abs = `${this.#plnkDir}/${b}`;
    await this.#writeFile(entry, abs, rel);
    this.#plnk.add(b);
  }

  /** Directory times, now that nothing more is created inside them. */
  finish(): void {
    for (const d of this.#dirs) {
      // A later entry may have replaced the directory or one of its parents.
      if (d.rel !== "." && this.#guard.dir(d.rel, false) !== "ok") continue;
      this.#fs.setTimes(this.#guard.abs(d.rel), d.atime, d.mtime, false);
    }
  }

  cleanup(): void {
    if (this.#plnkDir !== undefined) {
      try {
        Deno.removeSync(this.#plnkDir, { recursive: true });
      } catch {
        // Best effort; the error that got us here matters more.
      }
    }
  }
}

const ENCODER = new TextEncoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isFile(type: string): boolean {
  return type === TYPE.file || type === TYPE.contiguous;
}

/** Access and modification time; access never before modification (as Go). */
function times(h: TarHeader): { atime: TimeSpec; mtime: TimeSpec } {
  const mtime = { sec: h.mtimeSec, nsec: h.mtimeNsec };
  const a = h.atime ?? mtime;
  const before = a.sec < mtime.sec || (a.sec === mtime.sec && a.nsec < mtime.nsec);
  return { atime: before ? mtime : { sec: a.sec, nsec: a.nsec }, mtime };
}
