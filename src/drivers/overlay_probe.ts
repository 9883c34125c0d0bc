/**
 * What the kernel's overlay can do here, found by test mounts in scratch
 * directories of the home and cached in the run home under the same file
 * names upstream uses (layout.md §4.6), so cstor and the Go tools share
 * one set of answers: `overlay-true`, `native-diff(<mountopt>)-false`, …
 *
 * @module
 */

import { dirname, join } from "node:path";
import { errorMessage, StorageError } from "../errors.ts";
import { lgetxattr, llistxattr, lsetxattr, mknod, S_IFCHR } from "../sys/libc.ts";
import { mountContaining, mountFs, unmountAllBelow } from "./mount.ts";

/** A cached probe result: supported or not, and the text recorded with it. */
export interface CachedFeature {
  supported: boolean;
  text: string;
}

/** Reads `<runHome>/<feature>-true` or `-false`; null when never probed. */
export function cachedFeature(runHome: string, feature: string): CachedFeature | null {
  for (const supported of [true, false]) {
    try {
      const text = Deno.readTextFileSync(join(runHome, `${feature}-${supported}`));
      return { supported, text };
    } catch { /* try the other one */ }
  }
  return null;
}

/** Records a probe result (the file's name is the result; the text explains a failure). */
export function recordFeature(
  runHome: string,
  feature: string,
  supported: boolean,
  text = "",
): void {
  Deno.writeTextFileSync(join(runHome, `${feature}-${supported}`), text, { mode: 0o644 });
}

/** Returns the cached answer for `feature`, or probes and records it. */
export async function feature(
  runHome: string,
  name: string,
  probe: () => Promise<string | null>,
): Promise<CachedFeature> {
  const cached = cachedFeature(runHome, name);
  if (cached !== null) return cached;
  const problem = await probe();
  const result = { supported: problem === null, text: problem ?? "" };
  recordFeature(runHome, name, result.supported, result.text);
  return result;
}

/** Kernel filesystem type names → the names Go's graph drivers print (`FsNames`). */
const FS_NAMES: Record<string, string> = {
  ext2: "extfs",
  ext3: "extfs",
  ext4: "extfs",
  xfs: "xfs",
  btrfs: "btrfs",
  tmpfs: "tmpfs",
  overlay: "overlayfs",
  zfs: "zfs",
  nfs: "nfs",
  nfs4: "nfs",
  smbfs: "smb",
  ramfs: "ramfs",
  squashfs: "squashfs",
  f2fs: "f2fs",
  aufs: "aufs",
  ecryptfs: "ecryptfs",
  cramfs: "cramfs",
  jffs2: "jffs2",
  jfs: "jfs",
  reiserfs: "reiserfs",
  vxfs: "vxfs",
  gpfs: "gpfs",
  erofs: "erofs",
};

/**
 * The backing filesystem of `home` as Go names it (`extfs`, `xfs`, …),
 * from the mount that holds its parent (Go runs `statfs` on the parent).
 *
 * @throws StorageError for a filesystem Go's overlay driver does not know.
 */
export function backingFilesystem(home: string): string {
  const m = mountContaining(dirname(home));
  const type = m?.fsType ?? "";
  const name = FS_NAMES[type] ?? (type === "fuse" || type.startsWith("fuse.") ? "fuse" : "");
  if (name === "") {
    throw new StorageError("driver", undefined, {
      message: `filesystem type ${JSON.stringify(type)} reported for ${
        dirname(home)
      } is not supported with 'overlay': backing file system is unsupported for this graph driver`,
    });
  }
  return name;
}

/** Runs `fn` in a fresh scratch directory under `home`, unmounting and removing it afterwards. */
async function inScratch<T>(
  home: string,
  prefix: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: home, prefix });
  try {
    return await fn(dir);
  } finally {
    await unmountAllBelow(dir).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function mkdirs(base: string, names: string[]): void {
  for (const n of names) Deno.mkdirSync(join(base, n), { recursive: true, mode: 0o700 });
}

/**
 * Test-mounts an overlay with two lowers and a kernel-style whiteout in its
 * upper. Returns null when that works, else why not.
 */
export function probeOverlay(home: string, backingFs: string): Promise<string | null> {
  return inScratch(home, "compat", async (td) => {
    mkdirs(td, ["lower1", "lower2", "upper", "work", "merged"]);
    try {
      mknod(join(td, "upper", "whiteout"), S_IFCHR | 0o600, 0, 0);
    } catch (err) {
      return `kernel does not support overlay fs: unable to create kernel-style whiteout: ${
        errorMessage(err)
      }`;
    }
    const upper = `upperdir=${td}/upper,workdir=${td}/work`;
    try {
      await mountFs(
        "overlay",
        "overlay",
        join(td, "merged"),
        `lowerdir=${td}/lower1:${td}/lower2,${upper}`,
      );
      return null;
    } catch { /* try one lower */ }
    try {
      await mountFs("overlay", "overlay", join(td, "merged"), `lowerdir=${td}/lower1,${upper}`);
      return "kernel does not support overlay fs: kernel too old to provide multiple lowers feature for overlay";
    } catch (err) {
      return `kernel does not support overlay fs: 'overlay' is not supported over ${backingFs} at ${
        JSON.stringify(home)
      }: ${errorMessage(err)}`;
    }
  });
}

/** Mount data for a probe: the fixed part plus the configured options (flags are fine in `-o`). */
function withOptions(data: string, mountOpt: string): string {
  const extra = mountOpt.split(",").filter((o) => o !== "");
  return [data, ...extra].join(",");
}

/**
 * Whether diffs can be read straight from `diff/`: fails when the kernel
 * copies the opaque xattr up with a directory, or records renamed
 * directories as redirects (`redirect_dir`), since `diff/` then does not
 * say what changed. Returns null when native diff is usable.
 */
export function probeNativeDiff(home: string, mountOpt: string): Promise<string | null> {
  const prefix = "Not using native diff for overlay, this may cause degraded performance for " +
    "building images: ";
  return inScratch(home, "opaque-bug-check", async (td) => {
    mkdirs(td, ["l1/d", "l1/d1", "l2/d", "l3", "work", "merged"]);
    const opaque = "trusted.overlay.opaque";
    try {
      lsetxattr(join(td, "l2", "d"), opaque, new TextEncoder().encode("y"));
      const data = `lowerdir=${td}/l2:${td}/l1,upperdir=${td}/l3,workdir=${td}/work`;
      await mountFs("overlay", "overlay", join(td, "merged"), withOptions(data, mountOpt));
      Deno.writeFileSync(join(td, "merged", "d", "f"), new Uint8Array());
      const copied = lgetxattr(join(td, "l3", "d"), opaque);
      if (copied !== null && new TextDecoder().decode(copied) === "y") {
        return `${prefix}opaque flag erroneously copied up, consider update to kernel 4.8 or later to fix`;
      }
      try {
        Deno.renameSync(join(td, "merged", "d1"), join(td, "merged", "d2"));
      } catch (err) {
        // EXDEV: no redirect_dir, so renames copy up whole trees: fine.
        if ((err as { code?: string }).code === "EXDEV") return null;
        return `${prefix}failed to rename dir in merged directory: ${errorMessage(err)}`;
      }
      const redirect = lgetxattr(join(td, "l3", "d2"), "trusted.overlay.redirect");
      if (redirect !== null && new TextDecoder().decode(redirect) === "d1") {
        return `${prefix}kernel has CONFIG_OVERLAY_FS_REDIRECT_DIR enabled`;
      }
      return null;
    } catch (err) {
      return `${prefix}${errorMessage(err)}`;
    }
  });
}

/**
 * Whether a mount with `mountOpt` copies up metadata only (`metacopy=on`
 * and a kernel that honours it): after a chmod through the mount, the
 * upper copy carries `trusted.overlay.metacopy`. Returns null when it does,
 * else `""` (Go records no text for this probe).
 */
export function probeMetacopy(home: string, mountOpt: string): Promise<string | null> {
  return inScratch(home, "metacopy-check", async (td) => {
    mkdirs(td, ["l1", "l2", "work", "merged"]);
    Deno.writeFileSync(join(td, "l1", "f"), new Uint8Array([0xff]), { mode: 0o700 });
    const data = `lowerdir=${td}/l1,upperdir=${td}/l2,workdir=${td}/work`;
    try {
      await mountFs("overlay", "overlay", join(td, "merged"), withOptions(data, mountOpt));
    } catch {
      // Go treats a refused option (EINVAL) as "no metacopy"; mount(8) reports it the same way.
      return "";
    }
    Deno.chmodSync(join(td, "merged", "f"), 0o600);
    return lgetxattr(join(td, "l2", "f"), "trusted.overlay.metacopy") !== null ? null : "";
  });
}

/** Whether the kernel accepts the `volatile` mount option. Returns null when it does. */
export function probeVolatile(home: string): Promise<string | null> {
  return inScratch(home, "volatile-check", async (td) => {
    mkdirs(td, ["lower", "upper", "work", "merged"]);
    const data = `volatile,lowerdir=${td}/lower,upperdir=${td}/upper,workdir=${td}/work`;
    try {
      await mountFs("overlay", "overlay", join(td, "merged"), data);
      return null;
    } catch {
      return "";
    }
  });
}

/**
 * Whether a home already holds layers written for a mount program (AUFS
 * `.wh.` files or fuse-overlayfs xattrs), which the kernel's overlay
 * would misread. Walks the whole home, so it only runs when the
 * `.has-mount-program` flag file is missing.
 */
export function hasMountProgramIndicators(home: string): boolean {
  const walk = (dir: string): boolean => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return false;
    }
    for (const e of entries) {
      if (e.name.startsWith(".wh.")) return true;
      if (!e.isDirectory) continue;
      const p = join(dir, e.name);
      if (hasFuseXattrs(p) || walk(p)) return true;
    }
    return false;
  };
  return walk(home);
}

function hasFuseXattrs(path: string): boolean {
  try {
    return llistxattr(path).some((n) =>
      n.startsWith("user.fuseoverlayfs.") || n.startsWith("user.containers.")
    );
  } catch {
    return false;
  }
}
