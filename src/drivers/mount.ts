/**
 * Mounting and unmounting by running `mount` and `umount` (util-linux)
 * through `Deno.Command`, and reading the kernel's mount table from
 * `/proc/self/mountinfo`.
 *
 * The design asks for real programs rather than raw syscalls: the CLI then
 * needs only `--allow-run=mount,umount`, and every mount cstor makes is one
 * an administrator could have typed. The cost is one process per call,
 * which is small next to what an overlay mount costs the kernel anyway.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { closeFd, ffiAvailable, O_RDONLY, openFd, preadFd } from "../sys/libc.ts";

/** One line of `/proc/self/mountinfo` (proc(5)), with paths unescaped. */
export interface MountInfoEntry {
  /** Mount ID. */
  id: number;
  /** Parent mount ID. */
  parent: number;
  /** Root of the mount inside its filesystem. */
  root: string;
  /** Where it is mounted, as seen by this process. */
  mountPoint: string;
  /** Per-mount options (`rw,relatime`). */
  options: string;
  /** Optional fields (`shared:1`, `master:2`, …). */
  optional: string[];
  /** Filesystem type (`ext4`, `overlay`). */
  fsType: string;
  /** Mount source. */
  source: string;
  /** Per-superblock options. */
  superOptions: string;
}

const MOUNTINFO = "/proc/self/mountinfo";

/**
 * Reads a file of `/proc`. Deno asks for `--allow-all` before it reads
 * anything below `/proc`, which the CLI's permission set does not grant;
 * libc's open/pread (through `--allow-ffi`) reads it like any other file.
 */
export function readProcFile(path: string): string {
  if (!ffiAvailable()) return Deno.readTextFileSync(path);
  const fd = openFd(path, O_RDONLY);
  try {
    const parts: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      const buf = new Uint8Array(64 * 1024);
      const n = preadFd(fd, buf, off);
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      off += n;
    }
    const all = new Uint8Array(off);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    closeFd(fd);
  }
}

/** Undoes the octal escapes (`\040` for a space) the kernel writes in mountinfo paths. */
function unescape(s: string): string {
  return s.includes("\\")
    ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    : s;
}

/** The current mount table of this process's mount namespace, in kernel order. */
export function readMountInfo(): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of readProcFile(MOUNTINFO).split("\n")) {
    if (line === "") continue;
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      options: f[5],
      optional: f.slice(6, sep),
      fsType: f[sep + 1],
      source: unescape(f[sep + 2]),
      superOptions: f[sep + 3] ?? "",
    });
  }
  return out;
}

/** Resolves symlinks in `path` where it exists, so it compares with mountinfo's paths. */
function canonical(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path;
  }
}

/**
 * The top-most mount at exactly `path`, or undefined when `path` is not a
 * mount point. Pass `table` to reuse one reading for several questions.
 */
export function mountAt(
  path: string,
  table: readonly MountInfoEntry[] = readMountInfo(),
): MountInfoEntry | undefined {
  const real = canonical(path);
  let found: MountInfoEntry | undefined;
  for (const m of table) {
    if (m.mountPoint === path || m.mountPoint === real) found = m;
  }
  return found;
}

/** True when `path` is a mount point in this mount namespace. */
export function isMountPoint(path: string, table?: readonly MountInfoEntry[]): boolean {
  return mountAt(path, table) !== undefined;
}

/** Mount points strictly below `dir`, deepest first (the order to unmount them in). */
export function mountsBelow(
  dir: string,
  table: readonly MountInfoEntry[] = readMountInfo(),
): string[] {
  const prefixes = [...new Set([dir, canonical(dir)])].map((d) => d.endsWith("/") ? d : `${d}/`);
  const found = new Set<string>();
  for (const m of table) {
    if (prefixes.some((p) => m.mountPoint.startsWith(p))) found.add(m.mountPoint);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/**
 * The mount that holds `path`: the one with the longest mount point that is
 * `path` or one of its parents (what `statfs(path)` would describe).
 */
export function mountContaining(
  path: string,
  table: readonly MountInfoEntry[] = readMountInfo(),
): MountInfoEntry | undefined {
  const real = canonical(path);
  let best: MountInfoEntry | undefined;
  for (const m of table) {
    const mp = m.mountPoint;
    const inside = real === mp || mp === "/" || real.startsWith(mp.endsWith("/") ? mp : `${mp}/`);
    if (inside && (best === undefined || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** What a finished program printed. */
interface RunOutput {
  success: boolean;
  code: number;
  stderr: string;
}

/** Runs `cmd` with `args` (stdin closed, output collected); never throws for a non-zero exit. */
async function run(cmd: string, args: string[], cwd?: string): Promise<RunOutput> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // Messages are matched below ("not mounted"); keep them untranslated.
      env: { LC_ALL: "C" },
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new StorageError("mount", undefined, {
        message: `running ${cmd}: program not found`,
        cause: err,
      });
    }
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      throw new StorageError("mount", undefined, {
        message: `running ${cmd} needs --allow-run=${cmd}`,
        cause: err,
      });
    }
    throw err;
  }
  return {
    success: out.success,
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr).trim(),
  };
}

/** Options of {@link mountFs}. */
export interface MountFsOptions {
  /** Working directory of the `mount` process: relative paths in `data` resolve from here. */
  cwd?: string;
}

/**
 * `mount -t <type> <source> -o <data> <target>`. The kernel receives `data`
 * in one page, so callers keep it under the page size.
 *
 * @throws StorageError (`mount`) with `mount`'s own message.
 */
export async function mountFs(
  type: string,
  source: string,
  target: string,
  data: string,
  options: MountFsOptions = {},
): Promise<void> {
  const args = ["-t", type, source, target];
  if (data !== "") args.splice(2, 0, "-o", data);
  const out = await run("mount", args, options.cwd);
  if (!out.success) {
    throw new StorageError("mount", undefined, {
      message: `mounting ${type} on ${target}: ${out.stderr || `mount exited with ${out.code}`}`,
    });
  }
}

/**
 * Runs a FUSE mount program (`fuse-overlayfs -o <data> <target>`) from `cwd`.
 *
 * @throws StorageError (`mount`) with the program's message.
 */
export async function mountWithProgram(
  program: string,
  target: string,
  data: string,
  cwd: string,
): Promise<void> {
  const out = await run(program, ["-o", data, target], cwd);
  if (!out.success) {
    throw new StorageError("mount", undefined, {
      message: `using mount program ${program}: ${out.stderr || "<stderr empty>"}`,
    });
  }
}

/**
 * Unmounts `target`. A target that is not mounted is not an error. When the
 * mount is busy (a process has a file open or its cwd in it) it is detached
 * lazily, as Go's drivers always do (`MNT_DETACH`), so unmounting never
 * fails just because something still looks at the tree.
 */
export async function unmountFs(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  let out = await run("umount", [target]);
  if (out.success || !isMountPoint(target)) return;
  out = await run("umount", ["--lazy", target]);
  if (out.success || !isMountPoint(target)) return;
  throw new StorageError("mount", undefined, {
    message: `unmounting ${target}: ${out.stderr || `umount exited with ${out.code}`}`,
  });
}

/** Unmounts a FUSE mount: `fusermount3 -u`, then `fusermount -u`, then `umount`. */
export async function unmountFuse(target: string): Promise<void> {
  if (!isMountPoint(target)) return;
  for (const prog of ["fusermount3", "fusermount"]) {
    try {
      const out = await run(prog, ["-u", target]);
      if (out.success) return;
    } catch {
      // Not installed or not allowed: the next way is tried.
    }
  }
  await unmountFs(target);
}

/** Unmounts everything mounted below `dir`, deepest first (before removing `dir`). */
export async function unmountAllBelow(dir: string): Promise<void> {
  for (const mp of mountsBelow(dir)) await unmountFs(mp);
}

/**
 * Makes `dir` a private mount point: a bind mount of itself when it is not a
 * mount point yet, then `--make-private` if its propagation is shared.
 * Mounts made below it then stay out of other mount namespaces (a
 * container started with shared propagation would otherwise pin copies of
 * every layer mount).
 */
export async function makePrivateMount(dir: string): Promise<void> {
  const top = mountAt(dir);
  if (top === undefined) {
    const out = await run("mount", ["--bind", dir, dir]);
    if (!out.success) {
      throw new StorageError("mount", undefined, {
        message: `bind-mounting ${dir} on itself: ${out.stderr}`,
      });
    }
  } else if (!top.optional.some((o) => o.startsWith("shared:"))) {
    return;
  }
  const after = mountAt(dir);
  if (after !== undefined && !after.optional.some((o) => o.startsWith("shared:"))) return;
  const out = await run("mount", ["--make-private", dir]);
  if (!out.success) {
    throw new StorageError("mount", undefined, {
      message: `making ${dir} a private mount: ${out.stderr}`,
    });
  }
}
