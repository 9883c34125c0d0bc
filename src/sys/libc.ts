/**
 * libc through Deno's FFI: the few system calls Deno has no API for
 * (fcntl record locks, pread/pwrite on a raw descriptor, mknod, xattrs).
 *
 * Everything here is optional: without `--allow-ffi` {@link ffiAvailable}
 * is false and callers fall back or refuse with a clear error.
 *
 * @module
 */

import { StorageError } from "../errors.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  fcntl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  // The same call on a worker thread, for F_OFD_SETLKW, which blocks.
  fcntl_blocking: {
    name: "fcntl",
    parameters: ["i32", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/**
 * Bound on first use only: every command takes locks (the symbols above),
 * and each bound symbol adds about 0.2 ms to the start of every command.
 */
const EXTRA_SYMBOLS = {
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type ExtraLibc = Deno.DynamicLibrary<typeof EXTRA_SYMBOLS>["symbols"];

let extra: ExtraLibc | undefined;

/** The symbols of {@link EXTRA_SYMBOLS}; throws like {@link requireLibc} without FFI. */
function requireExtra(what: string): ExtraLibc {
  requireLibc(what);
  extra ??= Deno.dlopen("libc.so.6", EXTRA_SYMBOLS).symbols;
  return extra;
}

// Linux x86-64 / aarch64 constants.
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_CLOEXEC = 0o2000000;
export const O_NOFOLLOW = 0o400000;
export const F_OFD_GETLK = 36;
export const F_OFD_SETLK = 37;
export const F_OFD_SETLKW = 38;
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const EINTR = 4;
export const EAGAIN = 11;
export const ENODATA = 61;
export const ENOTSUP = 95;
export const ERANGE = 34;

let lib: Libc | null | undefined;
let loadError: string | undefined;

/** True when `--allow-ffi` was granted and libc could be opened. */
export function ffiAvailable(): boolean {
  return load() !== null;
}

/** Why FFI is unavailable, for messages; undefined when it is available. */
export function ffiUnavailableReason(): string | undefined {
  load();
  return loadError;
}

function load(): Libc | null {
  if (lib !== undefined) return lib;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      loadError = "FFI permission (--allow-ffi) not granted";
      lib = null;
      return lib;
    }
    lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (err) {
    loadError = `cannot load libc: ${err instanceof Error ? err.message : String(err)}`;
    lib = null;
  }
  return lib;
}

/** libc symbols; throws `ffi-required` naming `what` when FFI is unavailable. */
export function requireLibc(what: string): Libc {
  const l = load();
  if (l === null) {
    throw new StorageError("ffi-required", undefined, {
      message: `${what} needs libc through FFI (run with --allow-ffi): ${loadError}`,
    });
  }
  return l;
}

/** The calling thread's errno; valid right after a synchronous call only. */
export function errno(): number {
  const l = requireLibc("errno");
  const p = l.__errno_location();
  if (p === null) return 0;
  return new Deno.UnsafePointerView(p).getInt32(0);
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  28: "ENOSPC",
  30: "EROFS",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  40: "ELOOP",
  61: "ENODATA",
  95: "ENOTSUP",
};

/** An Error for a failed system call, with the errno kept as `errno`. */
export function sysError(
  call: string,
  path: string | undefined,
  err: number,
): Error & { errno: number } {
  const name = ERRNO_NAMES[err] ?? `errno ${err}`;
  const e = new Error(`${call}${path === undefined ? "" : ` ${path}`}: ${name}`) as Error & {
    errno: number;
  };
  e.errno = err;
  return e;
}

/** A NUL-terminated copy of a string for passing to C. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** open(2); returns the descriptor or throws. */
export function openFd(path: string, flags: number, mode = 0o644): number {
  const l = requireLibc("open");
  const fd = l.open(cString(path), flags | O_CLOEXEC, mode);
  if (fd < 0) throw sysError("open", path, errno());
  return fd;
}

/** close(2). */
export function closeFd(fd: number): void {
  requireLibc("close").close(fd);
}

/** pread(2) of up to `buf.length` bytes at `offset`; returns bytes read. */
export function preadFd(fd: number, buf: Uint8Array<ArrayBuffer>, offset: number): number {
  const l = requireLibc("pread");
  for (;;) {
    const n = Number(l.pread(fd, buf, BigInt(buf.length), BigInt(offset)));
    if (n >= 0) return n;
    const e = errno();
    if (e !== EINTR) throw sysError("pread", undefined, e);
  }
}

/** pwrite(2) of all of `buf` at `offset`; a short write is an error (ENOSPC). */
export function pwriteFd(fd: number, buf: Uint8Array<ArrayBuffer>, offset: number): void {
  const l = requireLibc("pwrite");
  for (;;) {
    const n = Number(l.pwrite(fd, buf, BigInt(buf.length), BigInt(offset)));
    if (n === buf.length) return;
    if (n >= 0) throw sysError("pwrite", undefined, 28);
    const e = errno();
    if (e !== EINTR) throw sysError("pwrite", undefined, e);
  }
}

/** A whole-file `struct flock` (32 bytes on LP64) for the given lock type. */
function flockStruct(type: number): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(32);
  const view = new DataView(buf.buffer);
  view.setInt16(0, type, true); // l_type
  view.setInt16(2, 0, true); // l_whence = SEEK_SET
  view.setBigInt64(8, 0n, true); // l_start
  view.setBigInt64(16, 0n, true); // l_len = whole file
  view.setInt32(24, 0, true); // l_pid must be 0 for OFD locks
  return buf;
}

/**
 * Takes an open-file-description record lock on the whole file, waiting for
 * it. OFD locks conflict with the classic `fcntl` locks Go takes, but belong
 * to the descriptor, not the process.
 */
export async function ofdLock(fd: number, exclusive: boolean): Promise<void> {
  const l = requireLibc("fcntl");
  for (;;) {
    const rc = await l.fcntl_blocking(fd, F_OFD_SETLKW, flockStruct(exclusive ? F_WRLCK : F_RDLCK));
    if (rc === 0) return;
    // errno of the worker thread is not visible here; Go also retries
    // any failure of F_SETLKW after a short sleep.
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Tries an OFD lock without waiting; true when taken. */
export function ofdTryLock(fd: number, exclusive: boolean): boolean {
  const l = requireLibc("fcntl");
  const rc = l.fcntl(fd, F_OFD_SETLK, flockStruct(exclusive ? F_WRLCK : F_RDLCK));
  if (rc === 0) return true;
  const e = errno();
  if (e === EAGAIN || e === 13) return false;
  throw sysError("fcntl", undefined, e);
}

/** Releases an OFD lock (closing the descriptor also releases it). */
export function ofdUnlock(fd: number): void {
  requireLibc("fcntl").fcntl(fd, F_OFD_SETLK, flockStruct(F_UNLCK));
}

/** mknod(2): character/block devices and FIFOs. `mode` includes the S_IF* type bits. */
export function mknod(path: string, mode: number, major: number, minor: number): void {
  const l = requireExtra("mknod");
  // glibc's makedev encoding.
  const dev = (BigInt(major & 0xfff) << 8n) | (BigInt(major & ~0xfff) << 32n) |
    BigInt(minor & 0xff) | (BigInt(minor & ~0xff) << 12n);
  if (l.mknod(cString(path), mode, dev) !== 0) throw sysError("mknod", path, errno());
}

/** Splits a device number as stat reports it into major and minor. */
export function splitDev(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

/** lsetxattr(2). */
export function lsetxattr(path: string, name: string, value: Uint8Array<ArrayBuffer>): void {
  const l = requireExtra("lsetxattr");
  if (l.lsetxattr(cString(path), cString(name), value, BigInt(value.length), 0) !== 0) {
    throw sysError("lsetxattr", `${path} ${name}`, errno());
  }
}

/** lgetxattr(2); null when the attribute is absent or unsupported. */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const l = requireExtra("lgetxattr");
  const p = cString(path);
  const n = cString(name);
  for (let size = 256;; size *= 4) {
    const buf = new Uint8Array(size);
    const rc = Number(l.lgetxattr(p, n, buf, BigInt(size)));
    if (rc >= 0) return buf.slice(0, rc);
    const e = errno();
    if (e === ERANGE && size < 1 << 24) continue;
    if (e === ENODATA || e === ENOTSUP) return null;
    throw sysError("lgetxattr", `${path} ${name}`, e);
  }
}

/** llistxattr(2): attribute names, in the kernel's order; [] when unsupported. */
export function llistxattr(path: string): string[] {
  const l = requireExtra("llistxattr");
  const p = cString(path);
  for (let size = 1024;; size *= 4) {
    const buf = new Uint8Array(size);
    const rc = Number(l.llistxattr(p, buf, BigInt(size)));
    if (rc >= 0) {
      if (rc === 0) return [];
      return new TextDecoder().decode(buf.subarray(0, rc - 1)).split("\0");
    }
    const e = errno();
    if (e === ERANGE && size < 1 << 24) continue;
    if (e === ENOTSUP) return [];
    throw sysError("llistxattr", path, e);
  }
}

/** lremovexattr(2); absent attributes are not an error. */
export function lremovexattr(path: string, name: string): void {
  const l = requireExtra("lremovexattr");
  if (l.lremovexattr(cString(path), cString(name)) !== 0) {
    const e = errno();
    if (e !== ENODATA) throw sysError("lremovexattr", `${path} ${name}`, e);
  }
}

/**
 * symlink(2). Deno's own `symlink` refuses to run under path-scoped
 * `--allow-read`/`--allow-write` (the CLI's permission set); this does not.
 */
export function symlink(target: string, path: string): void {
  const l = requireExtra("symlink");
  if (l.symlink(cString(target), cString(path)) !== 0) throw sysError("symlink", path, errno());
}
