/**
 * Mounting one overlay layer (layout.md §4.3): the lower list through the
 * short links, the mount data, and keeping that data inside the one page
 * the kernel accepts.
 *
 * Three forms of the data are tried, shortest last:
 * 1. absolute paths (what `mountinfo` then shows; fits up to ~40 lowers);
 * 2. paths relative to the home, `l/<LID>`, with `mount` run from the home
 *    (upstream's trick; fits ~128 lowers);
 * 3. numbered symlinks `0`, `1`, … to the lowers in a scratch directory of
 *    the run home, with `mount` run from there (fits the kernel's limit of
 *    500 lowers). The kernel resolves every lower while mounting and keeps
 *    references to the directories, so the scratch links are removed right
 *    after.
 *
 * @module
 */

import { join } from "node:path";
import { StorageError } from "../errors.ts";
import { symlink } from "../sys/libc.ts";
import {
  diffName,
  exists,
  MAX_DEPTH,
  type OverlayLayout,
  readLowerEntries,
} from "./overlay_layout.ts";
import { mountFs, mountWithProgram } from "./mount.ts";

/** Data the kernel reads for a mount lives in one page; stay below it. */
const PAGE_SIZE = 4096;

/**
 * The lower directories of the layer at `layerDir`, highest first: its own
 * rotated-out `diff1`, `diff2`, … (ID-map changes), then each `l/<LID>` of
 * its `lower` file (looked up in additional stores when not ours) followed
 * by that layer's own `diffN`; `empty/` when there are none.
 */
export function mountLowers(layout: OverlayLayout, layerDir: string): string[] {
  const entries = readLowerEntries(layerDir);
  if (entries.length > MAX_DEPTH) {
    throw new StorageError("mount", undefined, { message: "max depth exceeded" });
  }
  const out: string[] = [];
  for (let n = 1; exists(join(layerDir, diffName(n))); n++) out.push(join(layerDir, diffName(n)));
  for (const entry of entries) {
    let lower = join(layout.home, entry);
    if (!exists(lower)) {
      const loc = layout.locate(entry);
      if (loc.additional) {
        lower = loc.dir;
      } else {
        layout.recreateLinks();
        if (!exists(lower)) {
          throw new StorageError("mount", undefined, {
            message: `can't stat lower layer ${JSON.stringify(lower)}: no such file or directory`,
          });
        }
      }
    }
    out.push(lower);
    // Not normalised on purpose: "l/<LID>/../diff1" must resolve through the
    // symlink to the layer's directory, not to "l/diff1".
    for (let n = 1; exists(`${lower}/../${diffName(n)}`); n++) {
      out.push(`${lower}/../${diffName(n)}`);
    }
  }
  if (out.length === 0) out.push(join(layerDir, "empty"));
  return out;
}

/** Everything needed to mount one layer. */
export interface LayerMount {
  layout: OverlayLayout;
  /** Where scratch link directories may be made (the run home). */
  runHome: string;
  /** The layer's directory (in the home, in an additional store, or staged). */
  layerDir: string;
  /** Upper directory when not the layer's own `diff/` (a staged copy). */
  upperDir?: string;
  /** Work directory to go with {@link upperDir}. */
  workDir?: string;
  /** Mount point. */
  target: string;
  /** `lowerdir=diff:lowers` with no upper: nothing can be written. */
  readOnly: boolean;
  /** Extra options appended to the data (`nodev`, `volatile`, `ro`, …). */
  options: string[];
  /** SELinux label (`context="…"`), applied only when SELinux is enabled. */
  mountLabel: string;
  /** FUSE mount program; `""` for the kernel's overlay. */
  mountProgram: string;
  /** Options only the mount program understands (`uidmapping=…`). */
  programOptions?: string[];
}

function selinuxEnabled(): boolean {
  try {
    Deno.statSync("/sys/fs/selinux/enforce");
    return true;
  } catch {
    return false;
  }
}

function data(
  lowers: string[],
  upper: string | undefined,
  work: string | undefined,
  m: LayerMount,
): string {
  const parts = upper === undefined
    ? [`lowerdir=${lowers.join(":")}`]
    : [`lowerdir=${lowers.join(":")}`, `upperdir=${upper}`, `workdir=${work}`];
  parts.push(...m.options.filter((o) => o !== ""));
  if (m.mountLabel !== "" && selinuxEnabled()) parts.push(`context="${m.mountLabel}"`);
  return parts.join(",");
}

/** Mounts the layer described by `m` at `m.target` (which must exist). */
export async function mountLayer(m: LayerMount): Promise<void> {
  const diff = m.upperDir ?? join(m.layerDir, "diff");
  const work = m.workDir ?? join(m.layerDir, "work");
  const lowers = mountLowers(m.layout, m.layerDir);
  // The kernel refuses to mount a volatile upper twice unless this marker is gone.
  await Deno.remove(join(work, "work", "incompat", "volatile"), { recursive: true }).catch(
    () => {},
  );

  const build = (ls: string[], d: string, w: string): string =>
    m.readOnly ? data([d, ...ls], undefined, undefined, m) : data(ls, d, w, m);

  if (m.mountProgram !== "") {
    const opts = [build(lowers, diff, work), ...(m.programOptions ?? [])].join(",");
    await mountWithProgram(m.mountProgram, m.target, opts, m.layout.home);
    return;
  }

  const absolute = build(lowers, diff, work);
  if (absolute.length < PAGE_SIZE) {
    await mountFs("overlay", "overlay", m.target, absolute);
    return;
  }

  const home = m.layout.home;
  const rel = (p: string): string => p.startsWith(`${home}/`) ? p.slice(home.length + 1) : p;
  const relative = build(lowers.map(rel), rel(diff), rel(work));
  if (relative.length < PAGE_SIZE) {
    await mountFs("overlay", "overlay", m.target, relative, { cwd: home });
    return;
  }

  const scratch = await Deno.makeTempDir({ dir: m.runHome, prefix: "cstor-lowers-" });
  try {
    const all = m.readOnly ? [diff, ...lowers] : lowers;
    for (let i = 0; i < all.length; i++) symlink(all[i], join(scratch, String(i)));
    const names = all.map((_, i) => String(i));
    const short = m.readOnly ? data(names, undefined, undefined, m) : data(names, diff, work, m);
    if (short.length >= PAGE_SIZE) {
      throw new StorageError("mount", undefined, {
        message:
          `overlay mount data for ${m.target} does not fit in a page (${short.length} bytes)`,
      });
    }
    await mountFs("overlay", "overlay", m.target, short, { cwd: scratch });
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}
