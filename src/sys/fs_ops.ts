/**
 * The path system calls of layer extraction, made straight through libc
 * when FFI is available, with Deno's own calls as the fallback.
 *
 * Why: unless every permission is granted, Deno resolves each path of a
 * file-system call itself before making it, one `readlink` per path
 * component, to check the permission against the real target. Under the
 * CLI's permission set a file created 12 directories deep cost 134 µs that
 * way against 46 µs through libc, and extracting a 20k-file layer makes
 * about 45k such calls: seconds of a layer apply. The FFI permission the CLI
 * already has (for locks, devices and xattrs) reaches every path anyway, so
 * going around the check grants nothing new. Callers keep doing their own
 * checks (no symlink followed below the target: `O_NOFOLLOW`,
 * `AT_SYMLINK_NOFOLLOW` and the extractor's directory guard).
 *
 * Errors from the libc path carry `errno` (see `sysError`), which
 * `hasErrno()` and `isNotFound()` style checks understand.
 *
 * @module
 */

import { errno, ffiAvailable, sysError } from "./libc.ts";

/** Seconds and nanoseconds since the epoch. */
export interface TimeSpec {
  sec: number;
  nsec: number;
}

/** A file just created for writing. */
export interface NewFile {
  /** Writes all of `data`. */
  write(data: Uint8Array): void;
  /** fchown(2). */
  chown(uid: number, gid: number): void;
  /** fchmod(2). */
  chmod(mode: number): void;
  /** futimens(2). */
  setTimes(atime: TimeSpec, mtime: TimeSpec): void;
  close(): void;
}

/** A file opened for reading (a `Deno.FsFile` has the same members). */
export interface ReadFile {
  /** Reads up to `p.length` bytes; null at the end. */
  readSync(p: Uint8Array): number | null;
  close(): void;
  /** The rest of the file as a stream (closes the file at its end). */
  readonly readable: ReadableStream<Uint8Array>;
}

/** `S_IFMT` values. */
export const FileType = {
  regular: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
} as const;

/** The calls extraction makes by path. */
export interface FsOps {
  /** True when the calls go through libc (errors then carry `errno`). */
  readonly native: boolean;
  /**
   * The `S_IFMT` bits of `path` without following a final symlink; null
   * when it does not exist or a parent is not a directory.
   */
  typeOf(path: string): number | null;
  /**
   * Opens `path` for reading without following a final symlink (ELOOP, or
   * Deno's error without FFI); `type` says what was opened.
   */
  openRead(path: string): { file: ReadFile; type: number };
  /** Creates a new file (`O_CREAT|O_EXCL|O_NOFOLLOW`): fails with EEXIST when anything is there. */
  createFile(path: string, mode: number): NewFile;
  mkdir(path: string, mode: number): void;
  /** Owner without following a final symlink. */
  lchown(path: string, uid: number, gid: number): void;
  chmod(path: string, mode: number): void;
  /** Access and modification times, of a final symlink itself when `noFollow`. */
  setTimes(path: string, atime: TimeSpec, mtime: TimeSpec, noFollow: boolean): void;
  symlink(target: string, path: string): void;
  /** Hard link `path` to `existing`. */
  link(existing: string, path: string): void;
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
} as const;

type Calls = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const O_RDONLY = 0;
const O_NONBLOCK = 0o4000;
const STATX_TYPE = 0x1;
/** Offset of `stx_mode` (u16) in `struct statx`, the same on every architecture. */
const STX_MODE = 28;
const S_IFMT = 0o170000;
const ENOENT = 2;
const ENOTDIR = 20;
const EINTR = 4;

function openLibc(): Calls | undefined {
  if (!ffiAvailable()) return undefined;
  try {
    return Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    return undefined;
  }
}

/** The extraction calls: through libc with FFI, else through Deno. */
export function fsOps(): FsOps {
  if (ops === undefined) {
    const calls = openLibc();
    ops = calls ? libcOps(calls) : denoOps();
  }
  return ops;
}

const ENCODER = new TextEncoder();

/** A NUL-terminated path for C (one allocation). */
function cString(s: string): Uint8Array<ArrayBuffer> {
  return ENCODER.encode(s + "\0") as Uint8Array<ArrayBuffer>;
}

/** Two `struct timespec`s (atime, mtime) as utimensat/futimens take them. */
function timespecs(atime: TimeSpec, mtime: TimeSpec): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(32);
  const v = new DataView(buf.buffer);
  v.setBigInt64(0, BigInt(atime.sec), true);
  v.setBigInt64(8, BigInt(atime.nsec), true);
  v.setBigInt64(16, BigInt(mtime.sec), true);
  v.setBigInt64(24, BigInt(mtime.nsec), true);
  return buf;
}

/** A chunked stream over a file's `readSync`, closing it at the end. */
function readableOf(file: { readSync(p: Uint8Array): number | null; close(): void }) {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const buf = new Uint8Array(256 * 1024);
      try {
        const n = file.readSync(buf);
        if (n === null) {
          file.close();
          controller.close();
        } else {
          controller.enqueue(buf.subarray(0, n));
        }
      } catch (err) {
        file.close();
        controller.error(err);
      }
    },
    cancel() {
      file.close();
    },
  });
}

function libcOps(c: Calls): FsOps {
  const check = (r: number, call: string, path?: string): void => {
    if (r !== 0) throw sysError(call, path, errno());
  };
  const statxBuf = new Uint8Array(256);
  const modeOf = (): number => (statxBuf[STX_MODE] | (statxBuf[STX_MODE + 1] << 8)) & S_IFMT;
  const empty = cString("");
  return {
    native: true,
    typeOf(path) {
      if (c.statx(AT_FDCWD, cString(path), AT_SYMLINK_NOFOLLOW, STATX_TYPE, statxBuf) === 0) {
        return modeOf();
      }
      const e = errno();
      if (e === ENOENT || e === ENOTDIR) return null;
      throw sysError("statx", path, e);
    },
    openRead(path) {
      let fd: number;
      for (;;) {
        // O_NONBLOCK: opening a FIFO someone put there must not hang.
        fd = c.open(cString(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
        if (fd >= 0) break;
        const e = errno();
        if (e !== EINTR) throw sysError("open", path, e);
      }
      if (c.statx(fd, empty, AT_EMPTY_PATH, STATX_TYPE, statxBuf) !== 0) {
        const e = errno();
        c.close(fd);
        throw sysError("statx", path, e);
      }
      const type = modeOf();
      let open = true;
      const file = {
        readSync(p: Uint8Array): number | null {
          for (;;) {
            const n = Number(c.read(fd, p, BigInt(p.length)));
            if (n > 0) return n;
            if (n === 0) return p.length === 0 ? 0 : null;
            const e = errno();
            if (e !== EINTR) throw sysError("read", path, e);
          }
        },
        close() {
          if (open) {
            open = false;
            c.close(fd);
          }
        },
      };
      let stream: ReadableStream<Uint8Array> | undefined;
      // A getter, defined (not assigned: Object.assign would call it and the
      // stream would start reading at once).
      Object.defineProperty(file, "readable", {
        get: (): ReadableStream<Uint8Array> => stream ??= readableOf(file),
      });
      return {
        file: file as typeof file & { readonly readable: ReadableStream<Uint8Array> },
        type,
      };
    },
    createFile(path, mode) {
      let fd: number;
      for (;;) {
        fd = c.open(cString(path), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) break;
        const e = errno();
        if (e !== EINTR) throw sysError("open", path, e);
      }
      return {
        write(data) {
          let off = 0;
          while (off < data.length) {
            const n = Number(c.write(fd, data.subarray(off), BigInt(data.length - off)));
            if (n < 0) {
              const e = errno();
              if (e === EINTR) continue;
              throw sysError("write", path, e);
            }
            off += n;
          }
        },
        chown: (uid, gid) => check(c.fchown(fd, uid, gid), "fchown", path),
        chmod: (m) => check(c.fchmod(fd, m), "fchmod", path),
        setTimes: (a, m) => check(c.futimens(fd, timespecs(a, m)), "futimens", path),
        close() {
          c.close(fd);
        },
      };
    },
    mkdir: (path, mode) => check(c.mkdir(cString(path), mode), "mkdir", path),
    lchown: (path, uid, gid) => check(c.lchown(cString(path), uid, gid), "lchown", path),
    chmod: (path, mode) => check(c.chmod(cString(path), mode), "chmod", path),
    setTimes(path, a, m, noFollow) {
      const flags = noFollow ? AT_SYMLINK_NOFOLLOW : 0;
      check(c.utimensat(AT_FDCWD, cString(path), timespecs(a, m), flags), "utimensat", path);
    },
    symlink: (target, path) => check(c.symlink(cString(target), cString(path)), "symlink", path),
    link: (existing, path) => check(c.link(cString(existing), cString(path)), "link", path),
  };
}

function nodeFS(): typeof import("node:fs") {
  if (nfs === undefined) throw new Error("node:fs was not loaded");
  return nfs;
}

/** Seconds as a float, as Deno's and node's time setters take them. */
function seconds(t: TimeSpec): number {
  return t.sec + t.nsec / 1e9;
}

function denoType(info: Deno.FileInfo): number {
  if (info.isSymlink) return FileType.symlink;
  if (info.isDirectory) return FileType.directory;
  if (info.isFile) return FileType.regular;
  return 0;
}

function denoOps(): FsOps {
  const nfs = nodeFS();
  const flags = nfs.constants.O_WRONLY | nfs.constants.O_CREAT | nfs.constants.O_EXCL |
    nfs.constants.O_NOFOLLOW;
  return {
    native: false,
    typeOf(path) {
      try {
        return denoType(Deno.lstatSync(path));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
          return null;
        }
        throw err;
      }
    },
    openRead(path) {
      // Without FFI the caller checked the path with typeOf() first.
      const file = Deno.openSync(path, { read: true });
      return { file, type: denoType(file.statSync()) };
    },
    createFile(path, mode) {
      const fd = nfs.openSync(path, flags, mode);
      return {
        write(data) {
          let off = 0;
          while (off < data.length) off += nfs.writeSync(fd, data, off, data.length - off);
        },
        chown: (uid, gid) => nfs.fchownSync(fd, uid, gid),
        chmod: (m) => nfs.fchmodSync(fd, m),
        setTimes: (a, m) => nfs.futimesSync(fd, seconds(a), seconds(m)),
        close: () => nfs.closeSync(fd),
      };
    },
    mkdir: (path, mode) => Deno.mkdirSync(path, { mode }),
    lchown: (path, uid, gid) => nfs.lchownSync(path, uid, gid),
    chmod: (path, mode) => Deno.chmodSync(path, mode),
    setTimes(path, a, m, noFollow) {
      if (noFollow) nfs.lutimesSync(path, seconds(a), seconds(m));
      else Deno.utimeSync(path, seconds(a), seconds(m));
    },
    symlink: (target, path) => Deno.symlinkSync(target, path),
    link: (existing, path) => Deno.linkSync(existing, path),
  };
}

// node:fs only for the fallback: loading it (Deno's Node layer) costs tens
// of milliseconds, which every command that copies a tree would pay. The
// libc symbols are bound on first use: this module loads with the vfs
// driver, for every command.
const nfs: typeof import("node:fs") | undefined = ffiAvailable()
  ? undefined
  : await import("node:fs");
let ops: FsOps | undefined;
