/**
 * A fresh ext4 filesystem on a loop device for the stores of both sides:
 * the root filesystem of these machines costs about 1 ms of kernel time per
 * new file and swings the same apply between 11 and 35 s, so both sides get
 * a new, empty, identical filesystem instead.
 *
 * @module
 */

import { join } from "node:path";
import { removeTree, run } from "./proc.ts";

/** A scratch area for one benchmark run. */
export interface Scratch {
  /** Where stores and inputs go. */
  readonly dir: string;
  /** How it is backed, for the table notes. */
  readonly kind: string;
  /** Unmounts everything below `dir`, then the filesystem, and deletes it. */
  cleanup(): Promise<void>;
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n").filter(Boolean).map((line) =>
    // Field 5 is the mount point, with spaces and the like octal-escaped.
    line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
  );
  return points.filter((p) => p === dir || p.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts every mount strictly below `dir` (kernel overlays, Go's private bind mounts). */
export async function unmountBelow(dir: string): Promise<void> {
  for (const p of await mountsUnder(dir)) {
    if (p === dir) continue;
    const r = await run(["umount", p], { check: false });
    if (r.code !== 0) await run(["umount", "-l", p], { check: false });
  }
}

/**
 * Makes a sparse image of `sizeGiB` under the system temp directory, puts
 * ext4 on it and loop-mounts it. Needs root.
 */
export async function loopScratch(sizeGiB: number): Promise<Scratch> {
  const base = await Deno.makeTempDir({ prefix: "cstor-bench-" });
  const image = join(base, "fs.img");
  const dir = join(base, "mnt");
  let mounted = false;
  const cleanup = async (): Promise<void> => {
    if (mounted) {
      await unmountBelow(dir);
      const r = await run(["umount", dir], { check: false });
      if (r.code !== 0) await run(["umount", "-l", dir], { check: false });
      mounted = false;
    }
    await removeTree(base);
  };
  try {
    await Deno.mkdir(dir);
    await Deno.truncate(image, 0).catch(() => {});
    const f = await Deno.open(image, { write: true, create: true });
    await f.truncate(sizeGiB * 1024 ** 3);
    f.close();
    // No lazy init: its background zeroing would run during the measurements.
    await run([
      "mkfs.ext4",
      "-q",
      "-F",
      "-E",
      "lazy_itable_init=0,lazy_journal_init=0",
      image,
    ]);
    await run(["mount", "-o", "loop", image, dir]);
    mounted = true;
    return { dir, kind: `fresh ${sizeGiB} GiB ext4 on a loop device`, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A plain temporary directory (when loop mounts are not possible, e.g. not root). */
export async function tempScratch(): Promise<Scratch> {
  const dir = await Deno.makeTempDir({ prefix: "cstor-bench-" });
  return {
    dir,
    kind: "temporary directory on the root filesystem (no loop mount)",
    async cleanup() {
      await unmountBelow(dir);
      await removeTree(dir);
    },
  };
}
