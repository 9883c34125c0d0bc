/**
 * The overlay driver (layout.md §4): each layer keeps only its own changes
 * in `GR/overlay/<ID>/diff/`, and a layer is used by mounting the kernel's
 * overlay filesystem over its lowers, with `mount` and `umount` run as
 * programs (design: `--allow-run=mount,umount`). The layout, short links,
 * whiteouts and feature caches are upstream's, so Podman and the Go tools
 * use layers cstor made and the reverse.
 *
 * Layers are built in a private staging directory inside the home (a
 * rename into place must not cross mounts) and committed by renames.
 *
 * The home is made a private bind mount of itself before the first mount
 * cstor makes in it, as Go does at every start. Two reasons: mounts below a
 * private mount do not propagate into other mount namespaces (where they
 * would keep layers busy), and — what matters for sharing a store — Go's
 * bind mount is not recursive: if Go made it *after* cstor mounted a layer,
 * that mount would be hidden under the new bind mount and Go's unmount
 * would miss it. Once the home is a mount point Go leaves it alone. Doing
 * it lazily, unlike Go, keeps read-only commands from leaving a mount
 * behind; `shutdown` removes it (`overlay.skip_mount_home=true` skips it).
 *
 * @module
 */

import { join } from "node:path";
import { isNotFound, StorageError } from "../errors.ts";
import { sameIDMaps } from "../archive/idmap.ts";
import type { TarReader } from "../archive/tar_types.ts";
import { ffiAvailable, symlink } from "../sys/libc.ts";
import type {
  ApplyOptions,
  Change,
  CreateOptions,
  Driver,
  IDMappings,
  LayerRef,
  MountRequest,
  StagedLayer,
} from "./driver.ts";
import { createStagingDir, removeStaleStagingDirs, stagingRoot } from "./staging.ts";
import type { VerifiedDirs } from "./open_inside.ts";
import type { ReadFile } from "../sys/fs_ops.ts";
import {
  isMountPoint,
  makePrivateMount,
  mountsBelow,
  unmountAllBelow,
  unmountFs,
  unmountFuse,
} from "./mount.ts";
import {
  exists,
  isRealParent,
  LINK_DIR,
  looksLikeID,
  openLayerFile,
  OverlayLayout,
  readLinkName,
  readText,
} from "./overlay_layout.ts";
import { type OverlayConfig, parseOverlayOptions } from "./overlay_options.ts";
import { buildLayerDir, processIDs, rotateDiffs } from "./overlay_build.ts";
import { type LayerMount, mountLayer } from "./overlay_mount.ts";
import {
  backingFilesystem,
  feature,
  hasMountProgramIndicators,
  probeMetacopy,
  probeNativeDiff,
  probeOverlay,
  probeVolatile,
} from "./overlay_probe.ts";
import type { DiffContext, PrivateMount } from "./overlay_diff.ts";
import { copyTree, extractTar, overlayDiffSize, remapOwners } from "./lazy_archive.ts";

const diffs = (): Promise<typeof import("./overlay_diff.ts")> => import("./overlay_diff.ts");

/** Construction options of the overlay driver. */
export interface OverlayOptions {
  /** The graph root; the driver lives in `<graphRoot>/overlay`. */
  graphRoot: string;
  /** The run root; feature caches live in `<runRoot>/overlay`. */
  runRoot: string;
  /** Driver options (`overlay.mountopt=nodev`, `overlay.mount_program=…`, …). */
  options: readonly string[];
  /**
   * Fail instead of falling back to fuse-overlayfs when the kernel's overlay
   * cannot be used (automatic driver selection then picks vfs). A
   * configured `mount_program` is still honoured.
   */
  nativeOnly?: boolean;
}

/** A layer being built or rebuilt in staging. */
interface OverlayStaged extends StagedLayer {
  /** The staged layer directory (`<staging>/layer`). */
  readonly layerDir: string;
  /** Rebuilding this existing layer: only its `diff/` is swapped at commit. */
  readonly existing?: string;
}

/** Where a mount program may be found when none is configured (library code reads no `PATH`). */
const PROGRAM_DIRS = [
  "/usr/local/bin",
  "/usr/bin",
  "/bin",
  "/usr/local/sbin",
  "/usr/sbin",
  "/sbin",
];

function findFuseOverlayfs(): string {
  for (const d of PROGRAM_DIRS) {
    if (exists(join(d, "fuse-overlayfs"))) return join(d, "fuse-overlayfs");
  }
  return "";
}

/** The overlay driver. */
export class OverlayDriver implements Driver {
  readonly name = "overlay";
  readonly home: string;
  /** `RR/overlay`: feature caches and scratch link directories. */
  readonly runHome: string;
  readonly options: readonly string[];
  readonly imageStores: readonly string[];
  readonly layout: OverlayLayout;
  /** Not running as root: opaque xattrs are `user.*`, mounts need a mount program. */
  readonly rootless: boolean;
  readonly mountProgram: string;
  readonly backingFs: string;
  readonly supportsDType: boolean;
  readonly usingMetacopy: boolean;
  readonly #mountOptions: string;
  readonly #skipMountHome: boolean;
  readonly #ignoreChownErrors: boolean;
  #naiveDiff: Promise<boolean> | undefined;
  #homeMount: Promise<void> | undefined;

  private constructor(init: {
    home: string;
    runHome: string;
    options: readonly string[];
    imageStores: string[];
    rootless: boolean;
    mountProgram: string;
    backingFs: string;
    supportsDType: boolean;
    usingMetacopy: boolean;
    mountOptions: string;
    skipMountHome: boolean;
    ignoreChownErrors: boolean;
  }) {
    this.home = init.home;
    this.runHome = init.runHome;
    this.options = init.options;
    this.imageStores = init.imageStores;
    this.layout = new OverlayLayout(init.home, init.imageStores);
    this.rootless = init.rootless;
    this.mountProgram = init.mountProgram;
    this.backingFs = init.backingFs;
    this.supportsDType = init.supportsDType;
    this.usingMetacopy = init.usingMetacopy;
    this.#mountOptions = init.mountOptions;
    this.#skipMountHome = init.skipMountHome;
    this.#ignoreChownErrors = init.ignoreChownErrors;
  }

  /**
   * Initialises the driver: parses options, creates the home, decides
   * between the kernel's overlay and a mount program (probing the kernel
   * once; results cached in the run home) and probes metacopy.
   *
   * @throws StorageError when overlay cannot be used here (the caller may
   *   then fall back to vfs).
   */
  static async create(opts: OverlayOptions): Promise<OverlayDriver> {
    const config = parseOverlayOptions(opts.options);
    if (!ffiAvailable()) {
      throw new StorageError("ffi-required", undefined, {
        message: "the overlay driver needs --allow-ffi (whiteout devices and xattrs)",
      });
    }
    const home = join(opts.graphRoot, "overlay");
    const runHome = join(opts.runRoot, "overlay");
    const rootless = processIDs().uid !== 0;
    if (opts.nativeOnly && rootless && config.mountProgram === "") {
      throw new StorageError("driver", undefined, {
        message: "overlay: the kernel's overlay needs root",
      });
    }
    const fresh = !exists(home);
    try {
      return await OverlayDriver.#init(opts, config, home, runHome, rootless);
    } catch (err) {
      // Like upstream, a failed start leaves no home behind, so the next
      // automatic selection does not take it for a previous overlay store.
      if (fresh) await Deno.remove(home, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  static async #init(
    opts: OverlayOptions,
    config: OverlayConfig,
    home: string,
    runHome: string,
    rootless: boolean,
  ): Promise<OverlayDriver> {
    await Deno.mkdir(home, { recursive: true, mode: 0o700 });
    await Deno.mkdir(join(home, LINK_DIR), { recursive: true, mode: 0o755 });
    await Deno.mkdir(runHome, { recursive: true, mode: 0o700 });
    const backingFs = backingFilesystem(home);
    const flagFile = join(home, ".has-mount-program");

    let mountProgram = config.mountProgram;
    let problem = "";
    if (mountProgram === "") {
      let native = !rootless;
      if (native) {
        const flag = readText(flagFile)?.trim();
        if (flag === "true") native = false;
        else if (flag !== "false") {
          const needs = hasMountProgramIndicators(home);
          await Deno.writeTextFile(flagFile, String(needs), { mode: 0o600 });
          native = !needs;
        }
      }
      if (native) {
        const ok = await feature(runHome, "overlay", () => probeOverlay(home, backingFs));
        if (!ok.supported) {
          native = false;
          problem = ok.text;
        }
      }
      if (!native) {
        mountProgram = opts.nativeOnly ? "" : findFuseOverlayfs();
        if (mountProgram === "") {
          throw new StorageError("driver", undefined, {
            message: problem ||
              (rootless
                ? "overlay: not running as root and no mount program (fuse-overlayfs) found"
                : "overlay: this home needs a mount program (fuse-overlayfs) and none was found"),
          });
        }
      }
    }
    let usingMetacopy = false;
    if (mountProgram !== "") {
      await Deno.writeTextFile(flagFile, "true", { mode: 0o600 });
    } else {
      if (["aufs", "overlayfs", "ecryptfs"].includes(backingFs)) {
        throw new StorageError("driver", undefined, {
          message: `'overlay' is not supported over ${backingFs}, a mount_program is required: ` +
            `backing file system is unsupported for this graph driver`,
        });
      }
      const meta = await feature(
        runHome,
        `metacopy(${config.mountOptions})`,
        () => probeMetacopy(home, config.mountOptions),
      );
      usingMetacopy = meta.supported;
    }
    return new OverlayDriver({
      home,
      runHome,
      options: opts.options,
      imageStores: config.imageStores,
      rootless,
      mountProgram,
      backingFs,
      supportsDType: true,
      usingMetacopy,
      mountOptions: config.mountOptions,
      skipMountHome: config.skipMountHome,
      ignoreChownErrors: config.ignoreChownErrors,
    });
  }

  /** True when diffs must compare mounted trees (probed once per mount option set). */
  useNaiveDiff(): Promise<boolean> {
    if (this.mountProgram !== "") return Promise.resolve(true);
    this.#naiveDiff ??= feature(
      this.runHome,
      `native-diff(${this.#mountOptions})`,
      () => probeNativeDiff(this.home, this.#mountOptions),
    ).then((r) => !r.supported);
    return this.#naiveDiff;
  }

  async status(): Promise<Array<[string, string]>> {
    return [
      ["Backing Filesystem", this.backingFs],
      ["Supports d_type", String(this.supportsDType)],
      ["Native Overlay Diff", String(!(await this.useNaiveDiff()))],
      ["Using metacopy", String(this.usingMetacopy)],
    ];
  }

  /** Makes the home a private mount before anything is mounted in it (see the module notes). */
  async #ensureHomeMount(): Promise<void> {
    if (this.#skipMountHome) return;
    if (this.#homeMount === undefined && isMountPoint(this.home)) return;
    this.#homeMount ??= makePrivateMount(this.home).finally(() => {
      this.#homeMount = undefined;
    });
    await this.#homeMount;
  }

  /** Mounts a layer directory at `target` (with the home made private first). */
  async #mount(m: Omit<LayerMount, "layout" | "runHome" | "mountProgram">): Promise<void> {
    await this.#ensureHomeMount();
    await mountLayer({
      ...m,
      layout: this.layout,
      runHome: this.runHome,
      mountProgram: this.mountProgram,
    });
  }

  async #unmount(target: string): Promise<void> {
    if (this.mountProgram !== "") await unmountFuse(target);
    else await unmountFs(target);
  }

  // ---- building layers ----

  async stage(parent: LayerRef | undefined, options: CreateOptions): Promise<StagedLayer> {
    if (options.storageOpt && Object.keys(options.storageOpt).length > 0) {
      throw new StorageError("unsupported", undefined, {
        message: "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
      });
    }
    const staging = await createStagingDir(this.home);
    const layerDir = join(staging.dir, "layer");
    const staged: OverlayStaged = {
      dir: staging.dir,
      contentDir: join(layerDir, "diff"),
      layerDir,
      release: staging.release,
    };
    try {
      buildLayerDir(this.layout, layerDir, parent?.id, options.maps);
      if (
        parent !== undefined &&
        (!sameIDMaps(options.parentMaps.uidMap, options.maps.uidMap) ||
          !sameIDMaps(options.parentMaps.gidMap, options.maps.gidMap))
      ) {
        await this.#reown(layerDir, options.parentMaps, options.maps, options.mountLabel);
      }
      return staged;
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }

  /**
   * Re-owns what a layer sees from `from` to `to` maps: mounted, every path
   * is chowned through the merged view (which copies it up into `diff/`),
   * then `diff/` is rotated to `diff1/` and a fresh `diff/` starts.
   */
  async #reown(layerDir: string, from: IDMappings, to: IDMappings, label: string): Promise<void> {
    const target = join(layerDir, "merged");
    await Deno.mkdir(target, { mode: 0o700 }).catch(() => {});
    await this.#mount({
      layerDir,
      target,
      readOnly: false,
      options: this.#defaultOptions(),
      mountLabel: label,
    });
    try {
      await remapOwners(target, from, to);
    } finally {
      await this.#unmount(target);
    }
    // As after any unmount, merged/ goes (Go's layers look the same).
    await Deno.remove(target).catch(() => {});
    rotateDiffs(layerDir, to);
  }

  async stageExisting(layer: LayerRef): Promise<StagedLayer> {
    const loc = this.layout.locate(layer.id);
    if (loc.additional || !exists(loc.dir)) {
      throw new StorageError("layer-unknown", `overlay: layer ${layer.id}`);
    }
    this.#refuseMounted(layer.id);
    const staging = await createStagingDir(this.home);
    const layerDir = join(staging.dir, "layer");
    const staged: OverlayStaged = {
      dir: staging.dir,
      contentDir: join(layerDir, "diff"),
      layerDir,
      existing: layer.id,
      release: staging.release,
    };
    try {
      await Deno.mkdir(layerDir, { mode: 0o700 });
      await copyTree(join(loc.dir, "diff"), staged.contentDir);
      // A work dir of our own for mounting the staged diff (naive apply).
      await Deno.mkdir(join(layerDir, "work"), { mode: 0o700 });
      await Deno.mkdir(join(layerDir, "merged"), { mode: 0o700 });
      return staged;
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }

  /**
   * Rebuilding a mounted layer is refused: the mount keeps using the old
   * `diff/` directory, so writes made through it would be lost and the new
   * contents would not be seen until it was remounted.
   */
  #refuseMounted(id: string): void {
    const merged = join(this.home, id, "merged");
    if (isMountPoint(merged)) {
      throw new StorageError("layer-used-by-container", `layer ${id} is mounted at ${merged}`, {
        message: `layer ${id} is mounted at ${merged}: unmount it before changing its contents`,
      });
    }
  }

  async commit(staged: StagedLayer, id: string): Promise<void> {
    const s = staged as OverlayStaged;
    const target = join(this.home, id);
    this.#refuseMounted(id);
    if (s.existing !== undefined) {
      const old = join(s.dir, "old-diff");
      await Deno.rename(join(target, "diff"), old);
      try {
        await Deno.rename(s.contentDir, join(target, "diff"));
      } catch (err) {
        await Deno.rename(old, join(target, "diff"));
        throw err;
      }
      return;
    }
    const lid = (await Deno.readTextFile(join(s.layerDir, "link"))).trim();
    if (exists(target)) {
      // As upstream: a layer made again replaces the old directory and its link.
      const oldLink = readLinkName(target);
      await Deno.rename(target, join(s.dir, "old"));
      if (oldLink && oldLink !== lid) {
        await Deno.remove(join(this.layout.linkDir, oldLink)).catch(() => {});
      }
    }
    await Deno.rename(s.layerDir, target);
    await Deno.mkdir(this.layout.linkDir, { recursive: true, mode: 0o755 });
    const link = join(this.layout.linkDir, lid);
    await Deno.remove(link).catch(() => {});
    symlink(`../${id}/diff`, link);
  }

  /**
   * Finishes the swap of `diff/` a killed applydiff began (see commit()):
   * the old `diff/` goes to the staging dir, the staged one takes its place.
   */
  async resumeCommit(stagingDir: string, id: string): Promise<boolean> {
    const stagedDiff = join(stagingDir, "layer", "diff");
    const target = join(this.home, id, "diff");
    if (!exists(stagedDiff)) return exists(target);
    if (exists(target)) await Deno.rename(target, join(stagingDir, "old-diff"));
    await Deno.rename(stagedDiff, target);
    return true;
  }

  async discard(staged: StagedLayer): Promise<void> {
    try {
      // Never let a recursive removal walk into a mount.
      await unmountAllBelow(staged.dir);
      await Deno.remove(staged.dir, { recursive: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    } finally {
      staged.release();
    }
  }

  async removeStaleStaging(): Promise<void> {
    const root = stagingRoot(this.home);
    // Mounts left by a killed process go first, or removal would walk into them.
    for (const mp of mountsBelow(root)) {
      const name = mp.slice(root.length + 1).split("/")[0];
      let file: Deno.FsFile | undefined;
      try {
        file = await Deno.open(join(root, `${name}.lock`), { write: true });
        if (!(await file.tryLock(true))) continue;
      } catch {
        // No lock file: its owner is gone.
      } finally {
        file?.close();
      }
      await unmountFs(mp).catch(() => {});
    }
    await removeStaleStagingDirs(this.home);
  }

  async applyDiff(
    staged: StagedLayer,
    parent: LayerRef | undefined,
    tar: TarReader,
    options: ApplyOptions,
  ): Promise<number> {
    const s = staged as OverlayStaged;
    const extract = {
      uidMap: options.maps.uidMap,
      gidMap: options.maps.gidMap,
      ignoreChownErrors: options.ignoreChownErrors ?? this.#ignoreChownErrors,
      onHeader: options.onHeader,
      rootless: this.rootless,
    };
    const ref: LayerRef = { id: s.existing ?? "", parent: parent?.id ?? "", maps: options.maps };
    // A new layer's first lower is always its parent; an existing one's may
    // not be (a mapped copy's lower is its template).
    const direct = s.existing === undefined || isRealParent(this.layout, ref, parent);
    if (direct) {
      await extractTar(tar, s.contentDir, {
        ...extract,
        whiteouts: this.mountProgram !== "" ? "aufs" : "overlay",
      });
      return await overlayDiffSize(s.contentDir);
    }
    // Through a mount of the staged diff over the layer's lowers, so
    // whiteouts hide what they name in whatever lower has it.
    const realDir = this.layout.layerDir(s.existing!);
    const target = join(s.layerDir, "merged");
    await this.#mount({
      layerDir: realDir,
      upperDir: s.contentDir,
      workDir: join(s.layerDir, "work"),
      target,
      readOnly: false,
      options: this.#defaultOptions(),
      mountLabel: "",
    });
    try {
      return (await extractTar(tar, target, { ...extract, whiteouts: "delete" })).size;
    } finally {
      await this.#unmount(target);
    }
  }

  // ---- layer state ----

  async remove(id: string): Promise<void> {
    const dir = join(this.home, id);
    if (!exists(dir)) return;
    await unmountAllBelow(dir);
    const link = readLinkName(dir);
    if (link) await Deno.remove(join(this.layout.linkDir, link)).catch(() => {});
    try {
      await Deno.remove(dir, { recursive: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  exists(id: string): boolean {
    return exists(this.layout.layerDir(id));
  }

  async layerIDs(): Promise<string[]> {
    const ids: string[] = [];
    for await (const e of Deno.readDir(this.home)) {
      if (e.isDirectory && looksLikeID(e.name)) ids.push(e.name);
    }
    return ids;
  }

  // ---- mounting ----

  /** Mount options when the caller gives none: the configured `mountopt`. */
  #defaultOptions(): string[] {
    return this.#mountOptions.split(",").filter((o) => o !== "");
  }

  async mount(layer: LayerRef, request: MountRequest): Promise<string> {
    const loc = this.layout.locate(layer.id);
    if (!exists(loc.dir)) {
      throw new StorageError("layer-unknown", `overlay: mounting layer ${layer.id}`);
    }
    let options = request.options.filter((o) => o !== "");
    if (options.length === 0) {
      options = this.#defaultOptions();
    } else if (
      this.usingMetacopy && this.#defaultOptions().includes("metacopy=on") &&
      !options.includes("metacopy=on")
    ) {
      // The kernel only follows metacopy xattrs when the option is given.
      options.push("metacopy=on");
    }
    if (!this.usingMetacopy) options = options.filter((o) => o !== "metacopy=on");
    const readOnly = loc.additional || options.includes("ro");
    if (this.rootless && this.mountProgram === "") options.push("userxattr");
    if (request.volatile && !options.includes("volatile")) {
      const v = await feature(this.runHome, "volatile", () => probeVolatile(this.home));
      if (v.supported) options.push("volatile");
    }
    const programOptions = this.#shiftOptions(layer, request.maps);

    const merged = join(loc.dir, "merged");
    if (!loc.additional) {
      await Deno.mkdir(join(loc.dir, "diff"), { recursive: true }).catch(() => {});
    }
    try {
      await Deno.mkdir(merged, { mode: 0o700 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    // Already mounted (by another process that lost count): use it, as Go does.
    if (isMountPoint(merged)) return merged;
    await this.#mount({
      layerDir: loc.dir,
      target: merged,
      readOnly,
      options,
      mountLabel: request.mountLabel,
      programOptions,
    });
    return merged;
  }

  /**
   * The kernel's overlay cannot shift IDs here (that needs idmapped mounts,
   * which `mount` from util-linux before 2.39 cannot make), so a mount that
   * asks for other maps than the layer's is refused, as upstream refuses it
   * for drivers without shifting. A mount program can shift a layer stored
   * with host IDs.
   */
  #shiftOptions(layer: LayerRef, maps: IDMappings | undefined): string[] | undefined {
    if (maps === undefined) return undefined;
    const same = sameIDMaps(maps.uidMap, layer.maps.uidMap) &&
      sameIDMaps(maps.gidMap, layer.maps.gidMap);
    if (same) return undefined;
    const hostIDs = (layer.maps.uidMap?.length ?? 0) === 0 &&
      (layer.maps.gidMap?.length ?? 0) === 0;
    if (this.mountProgram !== "" && hostIDs && maps.uidMap?.length && maps.gidMap?.length) {
      const fmt = (m: NonNullable<IDMappings["uidMap"]>, kind: "uid" | "gid"): string =>
        m.length === 1 && m[0].size === 1
          ? `squash_to_${kind}=${m[0].host_id}`
          : `${kind}mapping=${m.map((r) => `${r.container_id}:${r.host_id}:${r.size}`).join(":")}`;
      return [fmt(maps.uidMap, "uid"), fmt(maps.gidMap, "gid")];
    }
    throw new StorageError("unsupported", `cannot mount layer ${layer.id}`, {
      message: "shifting not enabled",
    });
  }

  async unmount(id: string): Promise<void> {
    const dir = this.layout.layerDir(id);
    if (!exists(dir)) return;
    const merged = join(dir, "merged");
    // Stacked mounts (a crash between count and mount) go too: none may stay behind.
    for (let i = 0; i < 16 && isMountPoint(merged); i++) await this.#unmount(merged);
    await Deno.remove(merged).catch(() => {});
  }

  isMounted(_id: string, path: string): Promise<boolean> {
    return Promise.resolve(isMountPoint(path));
  }

  // ---- reading layers back ----

  /** Mounts a layer read-only in a staging directory of its own. */
  async #privateMount(layer: LayerRef): Promise<PrivateMount> {
    const loc = this.layout.locate(layer.id);
    const staging = await createStagingDir(this.home);
    const target = join(staging.dir, "merged");
    const staged: StagedLayer = { dir: staging.dir, contentDir: target, release: staging.release };
    try {
      await Deno.mkdir(target, { mode: 0o700 });
      await this.#mount({
        layerDir: loc.dir,
        target,
        readOnly: true,
        options: this.#defaultOptions().filter((o) => o !== "ro"),
        mountLabel: "",
      });
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
    return {
      dir: target,
      release: async () => {
        try {
          await this.#unmount(target);
        } finally {
          await this.discard(staged);
        }
      },
    };
  }

  #diffContext(): DiffContext {
    return {
      layout: this.layout,
      rootless: this.rootless,
      mountProgram: this.mountProgram,
      useNaiveDiff: () => this.useNaiveDiff(),
      privateMount: (l: LayerRef) => this.#privateMount(l),
    };
  }

  async diff(layer: LayerRef, from: LayerRef | undefined): Promise<ReadableStream<Uint8Array>> {
    return await (await diffs()).layerDiff(this.#diffContext(), layer, from);
  }

  async changes(layer: LayerRef, from: LayerRef | undefined): Promise<Change[]> {
    return await (await diffs()).layerChanges(this.#diffContext(), layer, from);
  }

  async diffSize(layer: LayerRef, from: LayerRef | undefined): Promise<number> {
    return await (await diffs()).layerDiffSize(this.#diffContext(), layer, from);
  }

  openLayerFile(
    layer: LayerRef,
    name: string,
    verified?: VerifiedDirs,
  ): Promise<ReadFile | null> {
    return openLayerFile(this.layout, layer, name, verified);
  }

  async updateIDMaps(layer: LayerRef, from: IDMappings, to: IDMappings): Promise<void> {
    const dir = join(this.home, layer.id);
    if (!exists(dir)) throw new StorageError("layer-unknown", `overlay: layer ${layer.id}`);
    this.#refuseMounted(layer.id);
    await this.#reown(dir, from, to, "");
  }

  /** Shutdown: Go's `staging/` goes, and the home's bind mount when nothing is mounted in it. */
  async cleanup(): Promise<void> {
    await Deno.remove(join(this.home, "staging"), { recursive: true }).catch(() => {});
    if (isMountPoint(this.home) && mountsBelow(this.home).length === 0) {
      await unmountFs(this.home);
    }
  }
}
