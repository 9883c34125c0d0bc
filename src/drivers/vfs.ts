/**
 * The vfs driver (layout.md §3): every layer is a complete copy of its root
 * filesystem in `GR/vfs/dir/<ID>/`; mounting just returns that directory.
 *
 * @module
 */

import { join } from "../path.ts";
import { isNotFound, StorageError } from "../errors.ts";
import { sameIDMaps, toHost } from "../archive/idmap.ts";
import type { ChangesOptions } from "../archive/changes.ts";
import { createStagingDir, removeStaleStagingDirs } from "./staging.ts";
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
import { openInside, type VerifiedDirs } from "./open_inside.ts";
import type { ReadFile } from "../sys/fs_ops.ts";
import { parseDriverOptions } from "./options.ts";
import { copyTree, extractTar, remapOwners } from "./lazy_archive.ts";

/** Construction options of {@link VfsDriver}. */
export interface VfsOptions {
  /** The graph root; the driver lives in `<graphRoot>/vfs`. */
  graphRoot: string;
  /** Driver options (`vfs.imagestore=…`, `vfs.ignore_chown_errors=…`). */
  options: readonly string[];
}

/** The vfs driver. */
export class VfsDriver implements Driver {
  readonly name = "vfs";
  readonly home: string;
  readonly options: readonly string[];
  readonly imageStores: readonly string[];
  readonly ignoreChownErrors: boolean;

  constructor(opts: VfsOptions) {
    this.home = join(opts.graphRoot, "vfs");
    this.options = opts.options;
    const parsed = parseDriverOptions("vfs", opts.options, ["imagestore", "ignore_chown_errors"]);
    this.imageStores = parsed.imageStores;
    this.ignoreChownErrors = parsed.bool("ignore_chown_errors");
    Deno.mkdirSync(join(this.home, "dir"), { recursive: true, mode: 0o700 });
  }

  status(): Promise<Array<[string, string]>> {
    return Promise.resolve([]);
  }

  /** Where a layer's tree is: an additional store's copy if it has one, else ours. */
  layerDir(id: string): string {
    for (const store of this.imageStores) {
      const p = join(store, "vfs", "dir", id);
      try {
        if (Deno.statSync(p).isDirectory) return p;
      } catch { /* not there */ }
    }
    return join(this.home, "dir", id);
  }

  async stage(parent: LayerRef | undefined, options: CreateOptions): Promise<StagedLayer> {
    if (options.storageOpt && Object.keys(options.storageOpt).length > 0) {
      throw new StorageError("unsupported", undefined, {
        message: "vfs driver does not support per-layer storage options",
      });
    }
    const staging = await createStagingDir(this.home);
    const root = join(staging.dir, "root");
    const staged: StagedLayer = { dir: staging.dir, contentDir: root, release: staging.release };
    try {
      if (parent === undefined) {
        await Deno.mkdir(root, { mode: 0o555 });
        await Deno.chmod(root, 0o555);
        const uid = toHost(0, options.maps.uidMap);
        const gid = toHost(0, options.maps.gidMap);
        if (uid !== 0 || gid !== 0) await Deno.chown(root, uid, gid);
      } else {
        await copyTree(this.layerDir(parent.id), root);
        if (
          !sameIDMaps(options.parentMaps.uidMap, options.maps.uidMap) ||
          !sameIDMaps(options.parentMaps.gidMap, options.maps.gidMap)
        ) {
          await remapOwners(root, options.parentMaps, options.maps);
        }
      }
      return staged;
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }

  async stageExisting(layer: LayerRef): Promise<StagedLayer> {
    const staging = await createStagingDir(this.home);
    const root = join(staging.dir, "root");
    const staged: StagedLayer = { dir: staging.dir, contentDir: root, release: staging.release };
    try {
      await copyTree(join(this.home, "dir", layer.id), root);
      return staged;
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }

  async commit(staged: StagedLayer, id: string): Promise<void> {
    const target = join(this.home, "dir", id);
    try {
      // The old tree moves into the staging dir; discard() removes it later,
      // outside the lock.
      await Deno.rename(target, join(staged.dir, "old"));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await Deno.rename(staged.contentDir, target);
  }

  async resumeCommit(stagingDir: string, id: string): Promise<boolean> {
    const root = join(stagingDir, "root");
    const target = join(this.home, "dir", id);
    // commit() renames the old tree out, then the staged one in.
    if (!this.existsAt(root)) return this.existsAt(target);
    if (this.existsAt(target)) await Deno.rename(target, join(stagingDir, "old"));
    await Deno.rename(root, target);
    return true;
  }

  async discard(staged: StagedLayer): Promise<void> {
    try {
      await Deno.remove(staged.dir, { recursive: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    } finally {
      staged.release();
    }
  }

  removeStaleStaging(): Promise<void> {
    return removeStaleStagingDirs(this.home);
  }

  async applyDiff(
    staged: StagedLayer,
    _parent: LayerRef | undefined,
    tar: import("../archive/tar_types.ts").TarReader,
    options: ApplyOptions,
  ): Promise<number> {
    const result = await extractTar(tar, staged.contentDir, {
      whiteouts: "delete",
      uidMap: options.maps.uidMap,
      gidMap: options.maps.gidMap,
      ignoreChownErrors: options.ignoreChownErrors ?? this.ignoreChownErrors,
      onHeader: options.onHeader,
    });
    return result.size;
  }

  async remove(id: string): Promise<void> {
    try {
      await Deno.remove(join(this.home, "dir", id), { recursive: true });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  exists(id: string): boolean {
    try {
      return Deno.statSync(join(this.home, "dir", id)).isDirectory;
    } catch {
      return false;
    }
  }

  async layerIDs(): Promise<string[]> {
    const ids: string[] = [];
    for await (const e of Deno.readDir(join(this.home, "dir"))) {
      if (e.isDirectory) ids.push(e.name);
    }
    return ids;
  }

  mount(layer: LayerRef, request: MountRequest): Promise<string> {
    const opts = request.options.filter((o) => o !== "");
    if (opts.length > 1 || (opts.length === 1 && opts[0] !== "ro")) {
      return Promise.reject(
        new StorageError("unsupported", undefined, {
          message: "vfs driver does not support mount options",
        }),
      );
    }
    const dir = this.layerDir(layer.id);
    if (!this.existsAt(dir)) {
      return Promise.reject(
        new StorageError("driver", undefined, {
          message: `vfs layer ${layer.id}: ${dir} is missing`,
        }),
      );
    }
    return Promise.resolve(dir);
  }

  private existsAt(dir: string): boolean {
    try {
      return Deno.statSync(dir).isDirectory;
    } catch {
      return false;
    }
  }

  unmount(_id: string): Promise<void> {
    return Promise.resolve();
  }

  isMounted(_id: string, _path: string): Promise<boolean> {
    // vfs "mounts" are plain directories, never mount points.
    return Promise.resolve(false);
  }

  async diff(layer: LayerRef, from: LayerRef | undefined): Promise<ReadableStream<Uint8Array>> {
    const { naiveDiff } = await import("../archive/diff_tar.ts");
    const base = from ? this.layerDir(from.id) : undefined;
    return naiveDiff(this.layerDir(layer.id), base, mapOptions(layer, from));
  }

  async changes(layer: LayerRef, from: LayerRef | undefined): Promise<Change[]> {
    const { changes } = await import("../archive/changes.ts");
    const base = from ? this.layerDir(from.id) : undefined;
    return await changes(this.layerDir(layer.id), base, mapOptions(layer, from));
  }

  async diffSize(layer: LayerRef, from: LayerRef | undefined): Promise<number> {
    const { naiveDiffSize } = await import("../archive/diff_size.ts");
    const base = from ? this.layerDir(from.id) : undefined;
    return await naiveDiffSize(this.layerDir(layer.id), base, mapOptions(layer, from));
  }

  openLayerFile(
    layer: LayerRef,
    name: string,
    verified?: VerifiedDirs,
  ): Promise<ReadFile | null> {
    return openInside(this.layerDir(layer.id), name, verified);
  }

  updateIDMaps(layer: LayerRef, from: IDMappings, to: IDMappings): Promise<void> {
    return remapOwners(join(this.home, "dir", layer.id), from, to);
  }

  cleanup(): Promise<void> {
    return Promise.resolve();
  }
}

/** Owners of both trees are compared as container IDs, each through its own maps. */
export function mapOptions(layer: LayerRef, from: LayerRef | undefined): ChangesOptions {
  return {
    uidMap: layer.maps.uidMap,
    gidMap: layer.maps.gidMap,
    parentUidMap: from?.maps.uidMap ?? layer.maps.uidMap,
    parentGidMap: from?.maps.gidMap ?? layer.maps.gidMap,
  };
}
