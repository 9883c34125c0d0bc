/**
 * Small filesystem helpers shared by extraction, tree copies, change
 * detection and re-owning: a no-follow tree walk, extended attributes,
 * owners and times that never follow a final symlink.
 *
 * @module
 */

import { ffiAvailable, lgetxattr, llistxattr, lsetxattr } from "../sys/libc.ts";
import { fsOps, type TimeSpec } from "../sys/fs_ops.ts";

/** One path met by {@link walkTree}. */
export interface WalkEntry {
  /** Path relative to the walk root, `a/b` (never `.`). */
  rel: string;
  /** Absolute path. */
  abs: string;
  /** `lstat` of the path. */
  info: Deno.FileInfo;
}

/**
 * Walks `root` depth-first without following symlinks, parents before their
 * children, names in each directory in byte order (as Go's `filepath.Walk`).
 * The root itself is not visited. Returning `false` from `visit` for a
 * directory skips its contents.
 */
export function walkTree(root: string, visit: (e: WalkEntry) => boolean | void): void {
  const walk = (dirRel: string, dirAbs: string): void => {
    const names: string[] = [];
    for (const d of Deno.readDirSync(dirAbs)) names.push(d.name);
    names.sort(compareBytes);
    for (const name of names) {
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      const abs = `${dirAbs}/${name}`;
      const info = lstatOrNull(abs);
      if (info === null) continue; // vanished between readdir and lstat
      const descend = visit({ rel, abs, info });
      if (info.isDirectory && descend !== false) walk(rel, abs);
    }
  };
  walk("", root);
}

/** `lstat` of `abs`, or null when it does not exist (any other failure throws). */
export function lstatOrNull(abs: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(abs);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Orders strings by their UTF-8 bytes, as Go compares strings. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-16 order equals UTF-8 byte order except around surrogates; check cheaply.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) {
      const ea = new TextEncoder().encode(a.substring(i));
      const eb = new TextEncoder().encode(b.substring(i));
      const m = Math.min(ea.length, eb.length);
      for (let j = 0; j < m; j++) if (ea[j] !== eb[j]) return ea[j] - eb[j];
      return ea.length - eb.length;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The file-type bits of `st_mode`. */
export const S_IFMT = 0o170000;
/** Type bits of a symlink, directory, regular file, socket. */
export const S_IFLNK = 0o120000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

/**
 * All extended attributes of a path (not following a final symlink), in the
 * kernel's order. Null when xattrs cannot be read here (no FFI).
 */
export function readXattrs(abs: string): Map<string, Uint8Array> | null {
  if (!ffiAvailable()) return null;
  const out = new Map<string, Uint8Array>();
  for (const name of llistxattr(abs)) {
    const v = lgetxattr(abs, name);
    if (v !== null) out.set(name, v);
  }
  return out;
}

/** One attribute, or null when absent, unsupported or unreadable here (no FFI). */
export function readXattr(abs: string, name: string): Uint8Array | null {
  if (!ffiAvailable()) return null;
  return lgetxattr(abs, name);
}

/** Sets one attribute on a path without following a final symlink. */
export function writeXattr(abs: string, name: string, value: Uint8Array): void {
  const v = value.buffer instanceof ArrayBuffer
    ? value as Uint8Array<ArrayBuffer>
    : new Uint8Array(value);
  lsetxattr(abs, name, v);
}

/** `lchown(2)` (through libc with FFI: no node:fs to load, no per-call path resolution). */
export function lchown(abs: string, uid: number, gid: number): void {
  fsOps().lchown(abs, uid, gid);
}

/** Float seconds to a timespec, rounded to the microsecond (what a float of seconds holds). */
function timeSpec(seconds: number): TimeSpec {
  let sec = Math.floor(seconds);
  let usec = Math.round((seconds - sec) * 1e6);
  if (usec >= 1_000_000) {
    sec += 1;
    usec -= 1_000_000;
  }
  return { sec, nsec: usec * 1000 };
}

/**
 * Sets access and modification times without following a final symlink.
 * Times are seconds since the epoch (fractions allowed; Deno passes them as
 * floating point, so sub-microsecond digits may be rounded).
 */
export function setTimes(abs: string, isSymlink: boolean, atime: number, mtime: number): void {
  fsOps().setTimes(abs, timeSpec(atime), timeSpec(mtime), isSymlink);
}

/** Seconds since the epoch of a FileInfo time (0 when unknown). */
export function seconds(d: Date | null): number {
  return d === null ? 0 : d.getTime() / 1000;
}

/** True when the error is the given errno code name (`"ENOTSUP"`, …). */
export function hasErrno(err: unknown, code: string, errno?: number): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: string; errno?: number; message?: string };
  if (e.code === code) return true;
  if (errno !== undefined && e.errno === errno) return true;
  return typeof e.message === "string" && e.message.endsWith(`: ${code}`);
}
